// Memory of a whole-model quantization: an estimate of the peak before it starts (what
// streaming keeps resident at once) and the measured peak resident set size; and what a
// loaded model holds, by kind.
#pragma once

#include "model.h"

#include <cstdint>
#include <string>

namespace llama {

// Largest resident set expected while streaming-quantizing m with `tokens` calibration tokens
// in sequences of `seq_len`: embedding (+ lm_head) as held (stored dtype when lazy), the
// calibration activations in act_dtype (the inputs of the current block and the state kept
// inside it between true-sequential groups, and up to ffn_cache_bytes of SwiGLU outputs),
// one block's weights in their stored dtype plus its dense copies, the largest layer in fp32,
// the largest Hessian twice (accumulator and the library's working copy, or the copy read for
// the RTN comparison's error metric), and one sequence's intermediate products.
uint64_t estimate_peak_bytes(const Model &m, int64_t tokens, int64_t seq_len,
                             gptq_dtype act_dtype = GPTQ_DTYPE_F32,
                             uint64_t ffn_cache_bytes = 0);

// Peak resident set size of this process so far (getrusage), in bytes.
uint64_t peak_rss_bytes();

// The bytes a model holds, by kind. Quantized layers count their checkpoint tensors
// (qweight, qzeros, fp16 scales, g_idx; the library's copy widens scales and zero points
// besides). Dense layers count what the backend keeps (gptq_dlayer_create: the weight's dtype
// on CPU and Vulkan, fp32 on CUDA). A view counts as mapped: its pages are read from the file
// on demand (the embedding table row by row), so it adds to the resident set only as touched.
struct ResidentSizes {
    int64_t quantized_layers = 0, dense_layers = 0;
    uint64_t quantized_bytes = 0;
    uint64_t dense_bytes = 0;
    uint64_t f32_bytes = 0;     // norms, biases and weights held as fp32 vectors
    uint64_t mapped_bytes = 0;  // views in use: the embedding table, layers without a dense copy
    uint32_t dense_dtypes = 0, mapped_dtypes = 0;  // bit (1 << gptq_dtype) per dtype present
    uint64_t total_held() const { return quantized_bytes + dense_bytes + f32_bytes; }
};
ResidentSizes resident_sizes(const Model &m, gptq_ctx *ctx);

// "f32", "f16+bf16", ...: the dtypes of a ResidentSizes dtype mask; "-" when empty.
std::string dtype_names(uint32_t mask);

} // namespace llama
