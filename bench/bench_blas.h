/* OpenBLAS as the same-run baseline of the benchmarks (bench-only dependency: the library
 * never links a BLAS). Built with GPTQ_BENCH_OPENBLAS when CMake finds libopenblas; without
 * it bench_blas_available() is 0 and the benches print their own numbers only.
 * All matrices are row-major, as in the library. */
#ifndef GPTQ_BENCH_BLAS_H
#define GPTQ_BENCH_BLAS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int bench_blas_available(void);
/* "OpenBLAS <config> (<kernel>)" or why there is none. */
const char *bench_blas_name(void);
/* C = alpha op(A) op(B) + beta C. */
void bench_blas_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc);
/* Lower triangle of C += A^T A for A [k x n] (ssyrk). */
void bench_blas_syrk_lower(int64_t n, int64_t k, const float *a, int64_t lda, float *c,
                           int64_t ldc);
/* The three LAPACK steps of GPTQ's inverse factor on a symmetric n x n matrix: Cholesky
 * (spotrf), inverse from it (spotri), Cholesky of the inverse (spotrf). 0 on success. */
int bench_blas_inverse_factor(float *a, int64_t n);
/* The two LAPACK steps of the CPU backend's inverse factor (the inverse of a Cholesky
 * factor, of H in reversed order; the order does not change the work): Cholesky (spotrf),
 * triangular inverse (strtri). 0 on success. */
int bench_blas_upper_factor_inverse(float *a, int64_t n);
/* y[n] = W[n x k] x[k] (sgemv). */
void bench_blas_sgemv(const float *w, const float *x, float *y, int64_t n, int64_t k);

#ifdef __cplusplus
}
#endif

#endif
