// GPTQ's inverse Hessian factor on the device (docs/gptq-reference.md §2.6), as the CPU
// backend computes it (gptq_inverse_factor_reversed): with J the reversal permutation,
// the lower Cholesky factor of J H J = L L^T, its inverse, and U = J L^-1 J. The kernels
// index the reversed matrix in place (shaders/factor_tiles.glsl), so no step copies it.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"

#include <cstdint>

namespace gptq::vk {

// a (k x k, symmetric; its lower triangle is read) <- R in its upper triangle, R upper
// triangular with a = R R^T (R = J L J for J a J = L L^T); the lower triangle keeps the
// input. xinv (k x k) <- the diagonal blocks of L^-1 in the reversed layout (what
// record_inverse_factor continues from), the rest untouched. A pivot that is not positive
// and finite sets flag[0] to 1. step: the kernels' TK (kFactorStepMin or kFactorStepWide;
// 0 = the pipeline table's choice for this device), so tests can run both.
void record_cholesky(Recorder &rec, const Buffer &a, const Buffer &xinv, const Buffer &flag,
                     uint32_t k, uint32_t step = 0);

// a (k x k, the damped H) <- U, upper triangular with H^-1 = U^T U and zeros below.
// scratch: another k x k buffer. flag[0] is set to 1 if the Cholesky fails or U is not
// finite.
void record_inverse_factor(Recorder &rec, const Buffer &a, const Buffer &scratch,
                           const Buffer &flag, uint32_t k, uint32_t step = 0);

// Host-memory wrappers for tests: false if the flag was set.
bool device_reversed_cholesky(Context &ctx, const float *a, int64_t k, float *r,
                              uint32_t step = 0);
bool device_inverse_factor(Context &ctx, const float *h, int64_t k, float *u, uint32_t step = 0);

} // namespace gptq::vk
