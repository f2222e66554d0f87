// Dense (unquantized) layers on the device: W uploaded once in its stored dtype, then every
// product moves only X and Y (shaders/matmul_dense.comp).
#pragma once

#include "backends/vulkan/vk_context.h"
#include "core/backend.h"

#include <memory>

namespace gptq::vk {

std::unique_ptr<DenseLayer> make_dense(const std::shared_ptr<Context> &ctx, const void *w,
                                       gptq_dtype dtype, int64_t n, int64_t k, int64_t ldw);

// y [m x n] (row stride ldy) = x [m x k] (dtype, row stride ldx) * W^T; w from make_dense.
void dense_matmul(Context &ctx, const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m,
                  int64_t ldx, float *y, int64_t ldy);

} // namespace gptq::vk
