// The quantizer's two large products on the device, each in two kernel families: the
// register-blocked *_bcast kernels (no shared memory; row values by subgroup shuffles; the
// fast ones on lavapipe, with many registers per invocation) and the shared-memory tiled
// ones (hessian_accum.comp, trailing_update.comp: the classic GPU tiling, on any device).
// Which family a context uses is measured once on the device, not guessed from its type.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_context.h"

#include <cstdint>

namespace gptq::vk {

// Whether the context uses the *_bcast kernels: forced by ctx.products, else measured on
// the first call (both families time the same small Hessian sum; the tiled one wins only
// when it is clearly faster, so a device where they run alike always gets the same family).
bool use_bcast_products(Context &ctx);

// Row stride, in elements, of the activation image the Hessian kernel of that family reads.
int64_t hessian_row_stride(int64_t k, bool bcast);

// Records sum += X^T X for n_tokens rows of X (dtype GPTQ_X_*, row stride
// hessian_row_stride(k, bcast), first row at element `offset`) into the k x k sum.
void record_hessian_sum(Recorder &rec, Context &ctx, bool bcast, const Buffer &x, const Buffer &sum,
                        uint32_t dtype, uint32_t n_tokens, uint32_t k, uint32_t offset);

// Records Wt[c][n] -= sum_b U[i1+b][c] Err[b][n] for c >= i2 (trailing_update.comp).
void record_trailing_update(Recorder &rec, Context &ctx, bool bcast, const Buffer &wt,
                            const Buffer &u, const Buffer &err, uint32_t n, uint32_t k,
                            uint32_t i1, uint32_t i2);

} // namespace gptq::vk
