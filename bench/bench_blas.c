#include "bench_blas.h"

#ifdef GPTQ_BENCH_OPENBLAS
#include <cblas.h>

#include <stdio.h>

/* LAPACK (in libopenblas), Fortran calling convention; column-major, so the row-major
 * lower triangle is LAPACK's upper one. */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void strtri_(const char *uplo, const char *diag, const int *n, float *a, const int *lda,
             int *info);

int bench_blas_available(void) { return 1; }

const char *bench_blas_name(void) {
    static char name[256];
    snprintf(name, sizeof name, "%s (kernel %s, %d threads)", openblas_get_config(),
             openblas_get_corename(), openblas_get_num_threads());
    return name;
}

void bench_blas_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha,
                a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

void bench_blas_syrk_lower(int64_t n, int64_t k, const float *a, int64_t lda, float *c,
                           int64_t ldc) {
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (blasint)n, (blasint)k, 1.0f, a,
                (blasint)lda, 1.0f, c, (blasint)ldc);
}

int bench_blas_inverse_factor(float *a, int64_t n) {
    const int nn = (int)n;
    int info = 0;
    spotrf_("U", &nn, a, &nn, &info);
    if (info == 0) spotri_("U", &nn, a, &nn, &info);
    if (info == 0) spotrf_("U", &nn, a, &nn, &info);
    return info;
}

int bench_blas_upper_factor_inverse(float *a, int64_t n) {
    const int nn = (int)n;
    int info = 0;
    spotrf_("U", &nn, a, &nn, &info);
    if (info == 0) strtri_("U", "N", &nn, a, &nn, &info);
    return info;
}

void bench_blas_sgemv(const float *w, const float *x, float *y, int64_t n, int64_t k) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)n, (blasint)k, 1.0f, w, (blasint)k, x, 1,
                0.0f, y, 1);
}

#else

#include <stdlib.h>

int bench_blas_available(void) { return 0; }
const char *bench_blas_name(void) { return "none (libopenblas-dev not found at configure time)"; }
void bench_blas_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc) {
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b;
    (void)ldb, (void)beta, (void)c, (void)ldc;
    abort();
}
void bench_blas_syrk_lower(int64_t n, int64_t k, const float *a, int64_t lda, float *c,
                           int64_t ldc) {
    (void)n, (void)k, (void)a, (void)lda, (void)c, (void)ldc;
    abort();
}
int bench_blas_inverse_factor(float *a, int64_t n) {
    (void)a, (void)n;
    abort();
}
int bench_blas_upper_factor_inverse(float *a, int64_t n) {
    (void)a, (void)n;
    abort();
}
void bench_blas_sgemv(const float *w, const float *x, float *y, int64_t n, int64_t k) {
    (void)w, (void)x, (void)y, (void)n, (void)k;
    abort();
}

#endif
