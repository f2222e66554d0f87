#include "model.h"

#include "error.h"

#include <algorithm>
#include <utility>

namespace llama {

const char *module_short_name(int m) {
    static const char *names[kNumModules] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
    return m >= 0 && m < kNumModules ? names[m] : "?";
}

std::string module_hf_name(int layer, int m) {
    const char *part = m <= kO ? "self_attn" : "mlp";
    return "model.layers." + std::to_string(layer) + "." + part + "." + module_short_name(m);
}

Linear &Linear::operator=(Linear &&o) noexcept {
    if (this != &o) {
        gptq_qlayer_destroy(q_);
        gptq_dlayer_destroy(d_);
        n_ = o.n_;
        k_ = o.k_;
        w_ = std::move(o.w_);
        q_ = std::exchange(o.q_, nullptr);
        d_ = std::exchange(o.d_, nullptr);
        d_ctx_ = std::exchange(o.d_ctx_, nullptr);
    }
    return *this;
}

void Linear::set_qlayer(gptq_qlayer *q) {
    gptq_qlayer_destroy(q_);
    q_ = q;
    release_dense();
    std::vector<float>().swap(w_);
}

void Linear::release_dense() const {
    gptq_dlayer_destroy(d_);
    d_ = nullptr;
    d_ctx_ = nullptr;
}

void Linear::apply(gptq_ctx *ctx, const float *x, int64_t m, float *y) const {
    const gptq_matrix xm{x, GPTQ_DTYPE_F32, m, k_, k_};
    if (q_) {
        check(ctx, gptq_matmul_q(ctx, q_, &xm, y, n_), "quantized matmul");
        return;
    }
    if (!d_ || d_ctx_ != ctx) {
        release_dense();
        const gptq_matrix wm{w_.data(), GPTQ_DTYPE_F32, n_, k_, k_};
        check(ctx, gptq_dlayer_create(ctx, &wm, &d_), "dense layer");
        d_ctx_ = ctx;
    }
    check(ctx, gptq_matmul_dense(ctx, d_, &xm, y, n_), "dense matmul");
}

void allocate_model(Model &m) {
    const Config &c = m.cfg;
    m.embed.assign(size_t(c.vocab_size * c.dim), 0.0f);
    m.final_norm.assign(size_t(c.dim), 0.0f);
    if (!c.tied_embeddings) m.lm_head.assign(size_t(c.vocab_size * c.dim), 0.0f);
    m.blocks.clear();
    m.blocks.resize(size_t(c.n_layers));
    const int64_t shapes[kNumModules][2] = {
        {c.q_dim(), c.dim},        {c.kv_dim(), c.dim},     {c.kv_dim(), c.dim},
        {c.dim, c.q_dim()},        {c.hidden_dim, c.dim},   {c.hidden_dim, c.dim},
        {c.dim, c.hidden_dim}};
    for (Block &b : m.blocks) {
        b.attn_norm.assign(size_t(c.dim), 0.0f);
        b.ffn_norm.assign(size_t(c.dim), 0.0f);
        for (int i = 0; i < kNumModules; ++i) {
            b.lin[i] = Linear(shapes[i][0], shapes[i][1]);
            b.lin[i].weight().assign(size_t(shapes[i][0] * shapes[i][1]), 0.0f);
        }
    }
}

} // namespace llama
