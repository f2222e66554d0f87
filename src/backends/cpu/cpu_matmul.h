// y = x * dequant(Q)^T on the CPU, reading the packed GPTQ qweight directly.
#pragma once

#include "core/qlayer.h"

#include <gptq/gptq.h>

#include <cstdint>

namespace gptq::cpu {

class ThreadPool;

// Dequantized W^T rows [k0, k0 + rows) for output columns [n0, n0 + cols) into dst
// (row stride ldd): dst[i][c] = scales[g][n] * float(code(k, n) - zero[g][n]), g = g_idx[k],
// the exact fp32 value gptq_qlayer_dequantize gives.
void dequant_rows(const QLayer &q, int64_t k0, int64_t rows, int64_t n0, int64_t cols,
                  float *dst, int64_t ldd);

// y [m x n] (row stride ldy) = x [m x k] (dtype, row stride ldx) * dequant(q)^T, fp32
// accumulation. m <= 8 takes the qgemv path (qgemv.h), which streams qweight once for all
// rows; larger m dequantizes tiles of W once per chunk of rows and runs the GEMM on them.
void cpu_matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                float *y, int64_t ldy, ThreadPool *pool);

} // namespace gptq::cpu
