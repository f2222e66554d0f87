// The Hessian's symmetric rank-k update on Intel AMX tiles (bf16 products, fp32 sums).
//
// AMX multiplies bf16 only, so every fp32 activation is split exactly into bf16 parts,
// x = h + m + l (8 significand bits each: h = x truncated, m = the rest rounded to nearest,
// l = what m missed), and x_i x_j is summed as the six products
// h h + h m + m h + m m + h l + l h, each exact in fp32. The three dropped products (m l,
// l m, l l) are below 2^-22 |x_i x_j| each (|m| < 2^-7 |x|, |l| <= 2^-8 |m|) and of random
// sign, i.e. at the level of fp32's own rounding. A value with at most 16 significand bits
// (fp16) needs two parts (four products), a bf16 value one.
#pragma once

#include <cstdint>
#include <vector>

namespace gptq::cpu {

class ThreadPool;

// Tokens per chunk: each chunk is summed in tiles, then added to H (see syrk_amx.cpp).
constexpr int64_t kAmxChunkTokens = 1024;

// True when this CPU has AMX-BF16 and the OS granted this process the tile state (asked once
// per process); false in builds without the x86 kernels (GPTQ_CPU_GENERIC_ONLY, other ISAs).
bool amx_supported();

// Whether the Hessian should take the AMX path for an update of `rows` tokens of width k:
// the environment variable GPTQ_CPU_NO_AMX is not "1" (read on every call, so a benchmark can
// time both paths in one run; when set, the tile permission is never requested), the shape
// is large enough to gain, and amx_supported().
bool amx_hessian_enabled(int64_t k, int64_t rows);

// h[lower] += xt^T xt for fp32 xt [rows x k] (row stride ldx >= k), h k x k row-major.
// Computes the lower triangle with the diagonal; elements above the diagonal within the
// same 32 x 32 block may also be written. `parts` (1, 2 or 3) is how many bf16 parts each
// value is split into: 3 for any fp32 value, 2 when every value has at most 16 significand
// bits (fp16 inputs), 1 when every value is a bf16. Every 32 x 32 output block is summed by
// one thread in a fixed order (chunks of 1024 tokens, 32-token tiles in order, the products
// of a tile in a fixed order), so the result does not depend on the thread count. Fails
// (GPTQ_ERR_INTERNAL) unless amx_supported(). `workspace` is reused between calls (its size
// grows to 6 k T + 768 T per thread bytes, T = min(rows, 1024) rounded up to 32: 26.7 MB
// at k = 4096 and two threads for calls of 1024 tokens or more, 6.7 MB for calls of 256).
void syrk_lower_amx(float *h, int64_t k, const float *xt, int64_t ldx, int64_t rows, int parts,
                    std::vector<uint16_t> *workspace, ThreadPool *pool);

} // namespace gptq::cpu
