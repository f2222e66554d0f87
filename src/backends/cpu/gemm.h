// Single-precision GEMM for the CPU backend: the trailing updates of the GPTQ loop and of the
// blocked Cholesky/inverse, the Hessian accumulation and the large-M quantized matmul.
// Exposed so other backends' tests can use it as a reference product.
#pragma once

#include <cstdint>

namespace gptq::cpu {

class ThreadPool;

// C [m x n] = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions in
// elements. op(A) is m x k: element (i, p) is a[i*lda + p], or a[p*lda + i] if trans_a.
// op(B) is k x n: element (p, j) is b[p*ldb + j], or b[j*ldb + p] if trans_b.
// beta == 0 overwrites C without reading it. fp32 accumulation (k is cut into fixed slices of
// 256, each summed in registers in k order, then added to C), so the result does not depend
// on the thread count. C must not alias A or B. pool may be null (single-threaded).
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc, ThreadPool *pool);

// The lower triangle (j <= i) of the n x n product C = alpha op(A) op(B) + beta C, e.g. a
// symmetric rank-k update with op(B) = op(A)^T. Elements are rounded exactly as sgemm rounds
// them. Elements (i, j) above the diagonal with j <= i + kSgemmLowerReach may be overwritten
// with the corresponding product (whole tiles are computed); the rest are not touched.
constexpr int64_t kSgemmLowerReach = 256;
void sgemm_lower(bool trans_a, bool trans_b, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                 ThreadPool *pool);

// C [m x n] = alpha * A * B + beta * C for a lower-triangular A [m x m] (k = m) whose strict
// upper triangle holds zeros (it is read: whole tiles are packed). Rounds every element
// exactly as sgemm does with the same operands; skips the k slices a row block's zeros fill.
void sgemm_lower_a(int64_t m, int64_t n, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                   ThreadPool *pool);

// Name of the micro-kernel in use ("avx512", "avx2+fma" or "generic"), for logs and
// benchmarks.
const char *sgemm_kernel_name();

} // namespace gptq::cpu
