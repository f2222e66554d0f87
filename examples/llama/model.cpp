#include "model.h"

#include "error.h"
#include "file_io.h"
#include "half.h"

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
        src_ = std::exchange(o.src_, nullptr);
        src_dtype_ = o.src_dtype_;
        q_ = std::exchange(o.q_, nullptr);
        d_ = std::exchange(o.d_, nullptr);
        d_ctx_ = std::exchange(o.d_ctx_, nullptr);
        d_dtype_ = o.d_dtype_;
    }
    return *this;
}

void Linear::set_qlayer(gptq_qlayer *q) {
    gptq_qlayer_destroy(q_);
    q_ = q;
    release_dense();
    release_source();
    std::vector<float>().swap(w_);
}

void Linear::release() {
    set_qlayer(nullptr);
}

std::vector<float> &Linear::weight() {
    release_dense();
    if (w_.empty() && src_) {
        w_ = matrix_to_f32(matrix());
        release_source();
    }
    return w_;
}

gptq_matrix Linear::matrix() const {
    if (!w_.empty() || !src_) return gptq_matrix{w_.data(), GPTQ_DTYPE_F32, n_, k_, k_};
    return gptq_matrix{src_, src_dtype_, n_, k_, k_};
}

void Linear::set_source(const void *data, gptq_dtype dtype) {
    release_dense();
    std::vector<float>().swap(w_);
    src_ = data;
    src_dtype_ = dtype;
}

void Linear::release_source() {
    if (!src_) return;
    // Dropping the mapped pages keeps a model quantized block by block bounded.
    release_view_pages();
    src_ = nullptr;
}

void Linear::release_view_pages() const {
    if (!src_) return;
    const size_t es = src_dtype_ == GPTQ_DTYPE_F32 ? 4 : 2;
    release_pages(src_, size_t(n_ * k_) * es);
}

void Linear::row(int64_t r, float *out) const {
    if (q_ || r < 0 || r >= n_)
        fail(GPTQ_ERR_INTERNAL, "row %lld of a %s layer with %lld rows", (long long)r,
             q_ ? "quantized" : "floating-point", (long long)n_);
    const gptq_matrix m = matrix();
    if (m.dtype == GPTQ_DTYPE_F32) {
        std::copy_n(static_cast<const float *>(m.data) + size_t(r * k_), k_, out);
        return;
    }
    // 16-bit values widen exactly: the row equals the one an fp32 copy would hold.
    const auto *h = static_cast<const uint16_t *>(m.data) + size_t(r * k_);
    for (int64_t i = 0; i < k_; ++i)
        out[i] = m.dtype == GPTQ_DTYPE_F16 ? half_to_float(h[i]) : bf16_to_float(h[i]);
}

void Linear::release_dense() const {
    gptq_dlayer_destroy(d_);
    d_ = nullptr;
    d_ctx_ = nullptr;
    d_dtype_ = GPTQ_DTYPE_F32;
}

void Linear::make_dense(gptq_ctx *ctx) const {
    if (q_ || (d_ && d_ctx_ == ctx)) return;
    release_dense();
    const gptq_matrix wm = matrix();
    check(ctx, gptq_dlayer_create(ctx, &wm, &d_), "dense layer");
    d_ctx_ = ctx;
    d_dtype_ = wm.dtype;
    // The dense layer holds its own copy: the view's pages need not stay resident too (they
    // are read back from the file if the weight is asked for again).
    release_view_pages();
}

void Linear::apply(gptq_ctx *ctx, const float *x, int64_t m, float *y) const {
    const gptq_matrix xm{x, GPTQ_DTYPE_F32, m, k_, k_};
    if (q_) {
        check(ctx, gptq_matmul_q(ctx, q_, &xm, y, n_), "quantized matmul");
        return;
    }
    make_dense(ctx);
    check(ctx, gptq_matmul_dense(ctx, d_, &xm, y, n_), "dense matmul");
}

std::vector<float> matrix_to_f32(const gptq_matrix &m) {
    std::vector<float> out(size_t(m.rows * m.cols));
    const auto *h = static_cast<const uint16_t *>(m.data);
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = m.dtype == GPTQ_DTYPE_F32   ? static_cast<const float *>(m.data)[i]
                 : m.dtype == GPTQ_DTYPE_F16 ? half_to_float(h[i])
                                             : bf16_to_float(h[i]);
    return out;
}

void allocate_model(Model &m) {
    const Config &c = m.cfg;
    m.embed = Linear(c.vocab_size, c.dim);
    m.embed.weight().assign(size_t(c.vocab_size * c.dim), 0.0f);
    m.final_norm.assign(size_t(c.dim), 0.0f);
    m.lm_head = Linear();
    if (!c.tied_embeddings) {
        m.lm_head = Linear(c.vocab_size, c.dim);
        m.lm_head.weight().assign(size_t(c.vocab_size * c.dim), 0.0f);
    }
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

void make_resident(const Model &m, gptq_ctx *ctx) {
    for (const Block &b : m.blocks)
        for (const Linear &lin : b.lin) lin.make_dense(ctx);
    m.classifier().make_dense(ctx);
}

} // namespace llama
