#include "forward.h"

#include "error.h"
#include "host_parallel.h"

#include <algorithm>
#include <cmath>

namespace llama {

Tap tap_of(int module) {
    switch (module) {
    case kQ:
    case kK:
    case kV: return Tap::AttnIn;
    case kO: return Tap::AttnOut;
    case kGate:
    case kUp: return Tap::FfnIn;
    default: return Tap::FfnMid;
    }
}

void LayerKV::reserve(const Config &c, int64_t positions) {
    if (positions <= capacity) return;
    k.resize(size_t(positions * c.kv_dim()));
    v.resize(size_t(positions * c.kv_dim()));
    capacity = positions;
}

void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
    const float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = w[i] * (inv * x[i]);
}

std::vector<double> rope_inv_freq(const Config &c) {
    const int64_t half = c.head_dim / 2;
    std::vector<double> f(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i)
        f[size_t(i)] = 1.0 / std::pow(double(c.rope_theta), double(2 * i) / double(c.head_dim));
    const RopeScaling &s = c.rope_scaling;
    if (!s.llama3) return f;
    const double pi = 3.14159265358979323846;
    const double old_ctx = double(s.original_max_positions);
    const double low_wavelen = old_ctx / s.low_freq_factor;    // longer: fully rescaled
    const double high_wavelen = old_ctx / s.high_freq_factor;  // shorter: unchanged
    for (double &v : f) {
        const double wavelen = 2.0 * pi / v;
        if (wavelen > low_wavelen) {
            v /= s.factor;
        } else if (wavelen >= high_wavelen) {
            const double t = (old_ctx / wavelen - s.low_freq_factor) /
                             (s.high_freq_factor - s.low_freq_factor);
            v = (1.0 - t) * v / s.factor + t * v;
        }
    }
    return f;
}

void apply_rope(float *v, int64_t n_heads, int64_t head_dim, int64_t pos,
                const std::vector<double> &inv_freq, RopeStyle style) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        // The angle in double: pos * freq reaches ~1e5 rad at long contexts, where a float
        // angle would lose most of its fraction.
        const double angle = double(pos) * inv_freq[size_t(i)];
        const float c = float(std::cos(angle)), s = float(std::sin(angle));
        for (int64_t h = 0; h < n_heads; ++h) {
            float *hv = v + h * head_dim;
            const int64_t a = style == RopeStyle::Interleaved ? 2 * i : i;
            const int64_t b = style == RopeStyle::Interleaved ? 2 * i + 1 : i + half;
            const float x0 = hv[a], x1 = hv[b];
            hv[a] = x0 * c - x1 * s;
            hv[b] = x0 * s + x1 * c;
        }
    }
}

namespace {

// Adds bias [n] (when present) to each of the rows of y [rows x n].
void add_bias(float *y, int64_t rows, const std::vector<float> &bias) {
    const int64_t n = int64_t(bias.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i) y[r * n + i] += bias[size_t(i)];
}

// Qwen3's q_norm / k_norm: RMSNorm of each head's vector with one weight [head_dim].
void norm_heads(float *v, int64_t n_heads, int64_t head_dim, const std::vector<float> &w, float eps) {
    for (int64_t h = 0; h < n_heads; ++h) rmsnorm(v + h * head_dim, v + h * head_dim, w.data(), head_dim, eps);
}

// rmsnorm of each of T rows of width n, rows split over the host threads.
void rmsnorm_rows(float *out, const float *x, const float *w, int64_t T, int64_t n, float eps) {
    parallel_ranges(T, 4.0 * double(T * n), [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) rmsnorm(out + t * n, x + t * n, w, n, eps);
    });
}

// Causal grouped-query attention of T query rows at positions start.. over kv[0 .. pos]:
// att_out [T x q_dim]. Every (row, head) pair is independent: they are split over the host
// threads, each with its own score buffer.
void attention(const Config &c, const float *q, const LayerKV &kv, int64_t T, int64_t start,
               float *att_out) {
    const int64_t QD = c.q_dim(), KVD = c.kv_dim(), HD = c.head_dim;
    const int64_t group = c.n_heads / c.n_kv_heads;
    const float scale = 1.0f / std::sqrt(float(HD));
    const double work = 4.0 * double(T) * double(start + T) * double(c.n_heads * HD);
    parallel_ranges(T * c.n_heads, work, [&](int64_t p0, int64_t p1) {
        std::vector<float> score(size_t(start + T));
        for (int64_t p = p0; p < p1; ++p) {
            const int64_t t = p / c.n_heads, h = p % c.n_heads;
            const int64_t pos = start + t;
            const float *qh = &q[t * QD + h * HD];
            const int64_t kvh = h / group;
            float mx = -INFINITY;
            for (int64_t s = 0; s <= pos; ++s) {
                score[size_t(s)] = dot(qh, &kv.k[size_t(s * KVD + kvh * HD)], HD) * scale;
                mx = std::max(mx, score[size_t(s)]);
            }
            float sum = 0.0f;
            for (int64_t s = 0; s <= pos; ++s) {
                score[size_t(s)] = std::exp(score[size_t(s)] - mx);
                sum += score[size_t(s)];
            }
            float *oh = &att_out[t * QD + h * HD];
            std::fill(oh, oh + HD, 0.0f);
            for (int64_t s = 0; s <= pos; ++s) {
                const float a = score[size_t(s)] / sum;
                const float *vs = &kv.v[size_t(s * KVD + kvh * HD)];
                for (int64_t i = 0; i < HD; ++i) oh[i] += a * vs[i];
            }
        }
    });
}

// g = silu(g) * u elementwise, split over the host threads.
void swiglu(float *g, const float *u, int64_t count) {
    parallel_ranges(count, 20.0 * double(count), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    });
}

} // namespace

Forward::Forward(const Model &model, gptq_ctx *ctx)
    : m_(model), ctx_(ctx), inv_freq_(rope_inv_freq(model.cfg)) {}

void Forward::block(int layer, float *x, int64_t T, int64_t start, LayerKV &kv,
                    const TapFn *tap, const Tap *stop_after) const {
    const Config &c = m_.cfg;
    std::vector<float> att_out(size_t(T * c.q_dim()));
    if (!attention_part(layer, x, T, start, kv, att_out.data(), tap, stop_after)) return;
    if (tap) (*tap)(Tap::AttnOut, att_out.data(), T, c.q_dim());
    if (stop_after && *stop_after == Tap::AttnOut) return;
    add_attention_output(layer, att_out.data(), T, x);
    std::vector<float> mid(size_t(T * c.hidden_dim));
    if (!ffn_part(layer, x, T, mid.data(), tap, stop_after)) return;
    if (tap) (*tap)(Tap::FfnMid, mid.data(), T, c.hidden_dim);
    if (stop_after && *stop_after == Tap::FfnMid) return;
    add_ffn_output(layer, mid.data(), T, x);
}

bool Forward::attention_part(int layer, const float *x, int64_t T, int64_t start, LayerKV &kv,
                             float *att_out, const TapFn *tap, const Tap *stop_after) const {
    const Config &c = m_.cfg;
    const Block &b = m_.blocks.at(size_t(layer));
    const int64_t D = c.dim, QD = c.q_dim(), KVD = c.kv_dim(), HD = c.head_dim;
    if (start + T > kv.capacity) fail(GPTQ_ERR_SHAPE, "KV cache too small for %lld positions",
                                      (long long)(start + T));
    if (c.sliding_window > 0 && start + T > c.sliding_window)
        fail(GPTQ_ERR_UNSUPPORTED,
             "%lld positions exceed the model's sliding attention window of %lld "
             "(windowed attention is not implemented; use a shorter --seq-len)",
             (long long)(start + T), (long long)c.sliding_window);
    std::vector<float> xb(size_t(T * D)), q(size_t(T * QD));
    rmsnorm_rows(xb.data(), x, b.attn_norm.data(), T, D, c.norm_eps);
    if (tap) (*tap)(Tap::AttnIn, xb.data(), T, D);
    if (stop_after && *stop_after == Tap::AttnIn) return false;
    b.lin[kQ].apply(ctx_, xb.data(), T, q.data());
    // Keys and values go straight into the cache rows of their positions.
    b.lin[kK].apply(ctx_, xb.data(), T, &kv.k[size_t(start * KVD)]);
    b.lin[kV].apply(ctx_, xb.data(), T, &kv.v[size_t(start * KVD)]);
    add_bias(q.data(), T, b.bias[kQ]);
    add_bias(&kv.k[size_t(start * KVD)], T, b.bias[kK]);
    add_bias(&kv.v[size_t(start * KVD)], T, b.bias[kV]);
    for (int64_t t = 0; t < T; ++t) {
        float *qt = &q[t * QD], *kt = &kv.k[size_t((start + t) * KVD)];
        if (c.qk_norm) {
            norm_heads(qt, c.n_heads, HD, b.q_norm, c.norm_eps);
            norm_heads(kt, c.n_kv_heads, HD, b.k_norm, c.norm_eps);
        }
        apply_rope(qt, c.n_heads, HD, start + t, inv_freq_, c.rope);
        apply_rope(kt, c.n_kv_heads, HD, start + t, inv_freq_, c.rope);
    }
    attention(c, q.data(), kv, T, start, att_out);
    return true;
}

// x [T x dim] += lin(in) + bias: the residual add after o_proj and down_proj.
static void add_projection(gptq_ctx *ctx, const Block &b, int mod, const float *in, int64_t T,
                           int64_t dim, float *x) {
    std::vector<float> proj(size_t(T * dim));
    b.lin[size_t(mod)].apply(ctx, in, T, proj.data());
    add_bias(proj.data(), T, b.bias[size_t(mod)]);
    for (int64_t i = 0; i < T * dim; ++i) x[i] += proj[i];
}

void Forward::add_attention_output(int layer, const float *att_out, int64_t T, float *x) const {
    add_projection(ctx_, m_.blocks.at(size_t(layer)), kO, att_out, T, m_.cfg.dim, x);
}

bool Forward::ffn_part(int layer, const float *x, int64_t T, float *mid, const TapFn *tap,
                       const Tap *stop_after) const {
    const Config &c = m_.cfg;
    const Block &b = m_.blocks.at(size_t(layer));
    const int64_t D = c.dim, H = c.hidden_dim;
    std::vector<float> xb(size_t(T * D));
    rmsnorm_rows(xb.data(), x, b.ffn_norm.data(), T, D, c.norm_eps);
    if (tap) (*tap)(Tap::FfnIn, xb.data(), T, D);
    if (stop_after && *stop_after == Tap::FfnIn) return false;
    std::vector<float> u(size_t(T * H));
    b.lin[kGate].apply(ctx_, xb.data(), T, mid);
    b.lin[kUp].apply(ctx_, xb.data(), T, u.data());
    add_bias(mid, T, b.bias[kGate]);
    add_bias(u.data(), T, b.bias[kUp]);
    swiglu(mid, u.data(), T * H);
    return true;
}

void Forward::add_ffn_output(int layer, const float *mid, int64_t T, float *x) const {
    add_projection(ctx_, m_.blocks.at(size_t(layer)), kDown, mid, T, m_.cfg.dim, x);
}

std::vector<float> Forward::embed(const std::vector<int32_t> &tokens) const {
    const Config &c = m_.cfg;
    std::vector<float> x(tokens.size() * size_t(c.dim));
    for (size_t t = 0; t < tokens.size(); ++t) {
        if (tokens[t] < 0 || tokens[t] >= c.vocab_size)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "token id %d outside the vocabulary", tokens[t]);
        m_.embed.row(tokens[t], &x[t * size_t(c.dim)]);
    }
    return x;
}

std::vector<float> Forward::head(const float *x, int64_t T) const {
    const Config &c = m_.cfg;
    std::vector<float> xn(size_t(T * c.dim)), out(size_t(T * c.vocab_size));
    rmsnorm_rows(xn.data(), x, m_.final_norm.data(), T, c.dim, c.norm_eps);
    m_.classifier().apply(ctx_, xn.data(), T, out.data());
    return out;
}

std::vector<float> Forward::logits(const std::vector<int32_t> &tokens, int64_t start,
                                   std::vector<LayerKV> &cache) const {
    const Config &c = m_.cfg;
    const int64_t T = int64_t(tokens.size());
    cache.resize(size_t(c.n_layers));
    std::vector<float> x = embed(tokens);
    for (int l = 0; l < int(c.n_layers); ++l) {
        cache[size_t(l)].reserve(c, start + T);
        block(l, x.data(), T, start, cache[size_t(l)]);
    }
    return head(x.data(), T);
}

} // namespace llama
