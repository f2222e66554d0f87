// GPTQ's inverse Hessian factor on the device (docs/gptq-reference.md §2.6): blocked Cholesky, the inverse of
// the factor, (L L^T)^-1 = L^-T L^-1, the Cholesky of that, transposed to upper U.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"

#include <cstdint>

namespace gptq::vk {

// a (k x k) <- L with A = L L^T in its lower triangle (upper triangle untouched). A pivot
// that is not positive/finite sets flag[0] to 1.
void record_cholesky(Recorder &rec, const Buffer &a, const Buffer &flag, uint32_t k);

// a (k x k, the damped H) <- U, upper triangular with H^-1 = U^T U and zeros below.
// scratch: another k x k buffer. flag[0] is set to 1 if either Cholesky fails.
void record_inverse_factor(Recorder &rec, const Buffer &a, const Buffer &scratch,
                           const Buffer &flag, uint32_t k);

// Host-memory wrappers for tests: false if a Cholesky failed.
bool device_cholesky(Context &ctx, const float *a, int64_t k, float *l);
bool device_inverse_factor(Context &ctx, const float *h, int64_t k, float *u);

} // namespace gptq::vk
