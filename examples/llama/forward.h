// The reference forward pass: RMSNorm, RoPE, grouped-query attention with a KV cache, SwiGLU.
// Linear layers run through Linear::apply (fp32, or libgptq's quantized matmul) on all rows
// of a chunk at once, so a prefill of T tokens is one M = T matmul per layer.
#pragma once

#include "model.h"

#include <functional>
#include <vector>

namespace llama {

// Where a block's linear layers read their inputs; one Hessian per tap (q/k/v share one).
enum class Tap { AttnIn, AttnOut, FfnIn, FfnMid };
Tap tap_of(int module);

// Called with each tap's input rows [rows x cols] as the block computes them.
using TapFn = std::function<void(Tap, const float *x, int64_t rows, int64_t cols)>;

// Keys and values of one layer for positions [0, capacity).
struct LayerKV {
    std::vector<float> k, v;  // [capacity x kv_dim]
    int64_t capacity = 0;
    void reserve(const Config &c, int64_t positions);
};

class Forward {
public:
    Forward(const Model &model, gptq_ctx *ctx);
    Forward(const Forward &) = delete;
    Forward &operator=(const Forward &) = delete;

    // x [T x dim]: hidden states at positions start .. start+T-1, updated in place. Writes
    // those positions' keys/values into kv and attends over kv[0 .. position].
    // With stop_after set, returns right after that tap was called (x is then left partly
    // updated): calibration needs a block only up to the inputs it is collecting.
    void block(int layer, float *x, int64_t T, int64_t start, LayerKV &kv,
               const TapFn *tap = nullptr, const Tap *stop_after = nullptr) const;

    // block() in four stages, for calibration that keeps a block's intermediate states
    // instead of recomputing them (sequential.cpp). attention_part: x [T x dim] (the block
    // input) -> att_out [T x q_dim], writing kv; false when stop_after is AttnIn (after
    // that tap, with att_out untouched).
    bool attention_part(int layer, const float *x, int64_t T, int64_t start, LayerKV &kv,
                        float *att_out, const TapFn *tap = nullptr,
                        const Tap *stop_after = nullptr) const;
    // x [T x dim] += o_proj(att_out).
    void add_attention_output(int layer, const float *att_out, int64_t T, float *x) const;
    // x [T x dim] (after attention) -> mid [T x hidden] = silu(gate(n)) * up(n), n the
    // normed x (the FfnIn tap); false when stop_after is FfnIn.
    bool ffn_part(int layer, const float *x, int64_t T, float *mid, const TapFn *tap = nullptr,
                  const Tap *stop_after = nullptr) const;
    // x [T x dim] += down_proj(mid).
    void add_ffn_output(int layer, const float *mid, int64_t T, float *x) const;

    // Embedding rows of tokens -> [T x dim], widened from the table's dtype.
    std::vector<float> embed(const std::vector<int32_t> &tokens) const;

    // Final norm + classifier: [T x dim] -> logits [T x vocab]. The classifier's dense layer
    // is kept by the model (Linear), made from the weight as it is held.
    std::vector<float> head(const float *x, int64_t T) const;

    // Whole model on tokens at positions start..; cache holds one LayerKV per layer.
    std::vector<float> logits(const std::vector<int32_t> &tokens, int64_t start,
                              std::vector<LayerKV> &cache) const;

    const Model &model() const { return m_; }
    gptq_ctx *ctx() const { return ctx_; }

private:
    const Model &m_;
    gptq_ctx *ctx_;
    std::vector<double> inv_freq_;  // RoPE frequencies [head_dim / 2]
};

void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
// RoPE frequencies theta^(-2i/head_dim), i < head_dim/2, with Llama 3 scaling when set.
std::vector<double> rope_inv_freq(const Config &c);
void apply_rope(float *v, int64_t n_heads, int64_t head_dim, int64_t pos,
                const std::vector<double> &inv_freq, RopeStyle style);

} // namespace llama
