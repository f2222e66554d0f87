// Dense (unquantized) layers on the CPU: W kept in its stored dtype, products through the
// blocked GEMM (gemm.h) on the backend's thread pool.
#pragma once

#include "core/backend.h"

#include <gptq/gptq.h>

#include <cstdint>
#include <memory>

namespace gptq::cpu {

class ThreadPool;

std::unique_ptr<DenseLayer> make_dense(const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                                       int64_t ldw);

// y [m x n] (row stride ldy) = x [m x k] (dtype, row stride ldx) * W^T. A 16-bit W is widened
// to fp32 one panel of rows at a time, never as a whole.
void dense_matmul(const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                  float *y, int64_t ldy, ThreadPool *pool);

} // namespace gptq::cpu
