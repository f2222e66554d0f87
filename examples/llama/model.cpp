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
        n_ = o.n_;
        k_ = o.k_;
        w_ = std::move(o.w_);
        q_ = std::exchange(o.q_, nullptr);
    }
    return *this;
}

void Linear::set_qlayer(gptq_qlayer *q) {
    gptq_qlayer_destroy(q_);
    q_ = q;
    std::vector<float>().swap(w_);
}

void Linear::apply(gptq_ctx *ctx, const float *x, int64_t m, float *y) const {
    if (q_) {
        gptq_matrix xm{x, GPTQ_DTYPE_F32, m, k_, k_};
        check(ctx, gptq_matmul_q(ctx, q_, &xm, y, n_), "quantized matmul");
        return;
    }
    // Plain fp32 product; each output sums its k terms in column order, like llama2.c's
    // matmul, on both paths below (so prefill and decode agree).
    if (m < 4) {
        // Decode: dot products along rows of W, no copy.
        for (int64_t i = 0; i < m; ++i) {
            const float *xi = x + i * k_;
            for (int64_t r = 0; r < n_; ++r) {
                const float *wr = &w_[size_t(r * k_)];
                float acc = 0.0f;
                for (int64_t c = 0; c < k_; ++c) acc += wr[c] * xi[c];
                y[i * n_ + r] = acc;
            }
        }
        return;
    }
    // Prefill: over a transposed copy of W the innermost loop runs along contiguous outputs
    // and vectorizes without reassociating any sum.
    std::vector<float> wt(size_t(n_ * k_));
    for (int64_t r = 0; r < n_; ++r)
        for (int64_t c = 0; c < k_; ++c) wt[size_t(c * n_ + r)] = w_[size_t(r * k_ + c)];
    for (int64_t i = 0; i < m; ++i) {
        const float *xi = x + i * k_;
        float *yi = y + i * n_;
        std::fill(yi, yi + n_, 0.0f);
        for (int64_t c = 0; c < k_; ++c) {
            const float xc = xi[c];
            const float *wc = &wt[size_t(c * n_)];
            for (int64_t r = 0; r < n_; ++r) yi[r] += wc[r] * xc;
        }
    }
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
