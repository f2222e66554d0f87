/* gptq_dlayer_create / gptq_matmul_dense against a naive double-precision product, and the
 * argument checks of both.
 *
 * Tolerance: |y - y_ref| <= 2 (K + 2) u sum_k |x_k w_nk|, u = 2^-24. Widening F16/BF16 to
 * fp32 is exact, so y_ref (double, exact up to one rounding) is computed from exactly the
 * values the library was given; any fp32 evaluation order of a K-term dot product (blocked,
 * tiled, FMA) is within gamma_K = K u / (1 - K u), and the factor 2 and the +2 leave room for
 * the 1 / (1 - K u) and a two-level (per-slice, then total) summation. An fp16 intermediate
 * anywhere (2^-11) breaks the bound. */
#include "compare.h"
#include "naive_gptq.h"
#include "test_common.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>


static const char *dtype_name(gptq_dtype d) {
    return d == GPTQ_DTYPE_F32 ? "F32" : d == GPTQ_DTYPE_F16 ? "F16" : "BF16";
}

/* rows x cols random normals in `dtype` with row stride ld (padding holds NaN, which the
 * library must never read). *raw gets the array the library sees, the return value its exact
 * fp32 values (contiguous, row stride cols). */
static float *random_matrix(tc_rng *r, int64_t rows, int64_t cols, int64_t ld, gptq_dtype dtype,
                            void **raw) {
    float *exact = tc_xmalloc((size_t)(rows * cols) * sizeof(float));
    float *f = tc_xmalloc((size_t)(rows * ld) * sizeof(float));
    uint16_t *h = tc_xmalloc((size_t)(rows * ld) * sizeof(uint16_t));
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < ld; ++j) {
            float v = j < cols ? (float)tc_rng_normal(r) : NAN;
            if (dtype == GPTQ_DTYPE_F16) {
                h[i * ld + j] = tc_f32_to_f16(v);
                v = tc_f16_to_f32(h[i * ld + j]);
            } else if (dtype == GPTQ_DTYPE_BF16) {
                h[i * ld + j] = tc_f32_to_bf16(v);
                v = tc_bf16_to_f32(h[i * ld + j]);
            }
            f[i * ld + j] = v;
            if (j < cols) exact[i * cols + j] = v;
        }
    if (dtype == GPTQ_DTYPE_F32) {
        free(h);
        *raw = f;
    } else {
        free(f);
        *raw = h;
    }
    return exact;
}

struct dense_case {
    int64_t n, k, m;
    gptq_dtype w_dtype, x_dtype;
    int padded; /* row strides ldw = K+5, ldx = K+7, ldy = N+3 */
};

/* Builds the layer, runs one product and checks every element (and that ldy padding is left
 * alone). Returns the number of failures. */
static int check_case(gptq_ctx *ctx, const struct dense_case *c, tc_rng *r) {
    const int64_t n = c->n, k = c->k, m = c->m;
    const int64_t ldw = c->padded ? k + 5 : k, ldx = c->padded ? k + 7 : k;
    const int64_t ldy = c->padded ? n + 3 : n;
    char label[160];
    snprintf(label, sizeof label, "W %s %lldx%lld, X %s M=%lld%s", dtype_name(c->w_dtype),
             (long long)n, (long long)k, dtype_name(c->x_dtype), (long long)m,
             c->padded ? " padded" : "");
    void *wraw, *xraw;
    float *w = random_matrix(r, n, k, ldw, c->w_dtype, &wraw);
    float *x = random_matrix(r, m, k, ldx, c->x_dtype, &xraw);
    double *yr = tc_xmalloc((size_t)(m * n) * sizeof(double));
    double *ab = tc_xmalloc((size_t)(m * n) * sizeof(double));
    naive_matmul(x, m, k, k, w, n, yr, ab);

    int bad = 0;
    gptq_matrix wm = {wraw, c->w_dtype, n, k, c->padded ? ldw : 0};
    gptq_dlayer *d = NULL;
    if (gptq_dlayer_create(ctx, &wm, &d) != GPTQ_OK) {
        fprintf(stderr, "[%s] dlayer_create failed: %s\n", label, gptq_last_error(ctx));
        bad = 1;
    }
    /* The library keeps its own copy: the caller's W may change afterwards. */
    memset(wraw, 0xff, (size_t)(n * ldw) * (c->w_dtype == GPTQ_DTYPE_F32 ? 4 : 2));
    float *y = tc_xmalloc((size_t)(m * ldy) * sizeof(float));
    for (int64_t i = 0; i < m * ldy; ++i) y[i] = TQ_Y_SENTINEL;
    gptq_matrix xm = {xraw, c->x_dtype, m, k, c->padded ? ldx : 0};
    if (!bad && gptq_matmul_dense(ctx, d, &xm, y, c->padded ? ldy : 0) != GPTQ_OK) {
        fprintf(stderr, "[%s] matmul_dense failed: %s\n", label, gptq_last_error(ctx));
        bad = 1;
    }
    if (!bad) bad = tq_check_product(label, y, m, n, ldy, k, yr, ab, NULL);
    if (bad) fprintf(stderr, "[%s] FAILED\n", label);
    gptq_dlayer_destroy(d);
    free(w);
    free(x);
    free(wraw);
    free(xraw);
    free(y);
    free(yr);
    free(ab);
    return bad != 0;
}

/* Every W dtype x X dtype, small and tile-crossing shapes, M from the decode case to several
 * GEMM tiles, contiguous and padded strides. */
static void test_dtypes_shapes_strides(void **state) {
    (void)state;
    static const gptq_dtype dtypes[] = {GPTQ_DTYPE_F32, GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16};
    static const struct { int64_t n, k; } shapes[] = {{1, 1}, {17, 33}, {70, 300}, {129, 520}};
    static const int64_t ms[] = {1, 5, 70, 131};
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 8);
    int failures = 0;
    for (int wd = 0; wd < 3; ++wd)
        for (int xd = 0; xd < 3; ++xd)
            for (size_t s = 0; s < 4; ++s)
                for (size_t mi = 0; mi < 4; ++mi) {
                    const struct dense_case c = {shapes[s].n, shapes[s].k, ms[mi], dtypes[wd],
                                                 dtypes[xd], (int)((s + mi) % 2)};
                    failures += check_case(ctx, &c, &r);
                }
    gptq_ctx_destroy(ctx);
    assert_int_equal(failures, 0);
}

/* Sizes that cross the implementations' internal chunking: a 16-bit W wider than one CPU
 * widening panel (4M elements), and more 16-bit X rows than one CPU conversion pass (2048). */
static void test_chunk_boundaries(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 88);
    const struct dense_case cases[] = {
        {2100, 2048, 2, GPTQ_DTYPE_BF16, GPTQ_DTYPE_F32, 0},
        {20, 8, 2100, GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16, 1},
    };
    int failures = 0;
    for (size_t i = 0; i < 2; ++i) failures += check_case(ctx, &cases[i], &r);
    gptq_ctx_destroy(ctx);
    assert_int_equal(failures, 0);
}

static void expect(gptq_status got, gptq_status want, const gptq_ctx *ctx, const char *what) {
    if (got != want)
        fail_msg("%s: status %d (%s), expected %d", what, got, gptq_last_error(ctx), want);
    if (got != GPTQ_OK && gptq_last_error(ctx)[0] == '\0')
        fail_msg("%s: failed without a message", what);
}

static void test_bad_arguments(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; /* 3 x 4 */
    float x[8] = {1, 0, 0, 0, 0, 1, 0, 0};                  /* 2 x 4 */
    float y[6];
    gptq_matrix wm = tc_matrix_f32(w, 3, 4, 0);
    gptq_dlayer *d = (gptq_dlayer *)&wm; /* must be reset to NULL on failure */

    expect(gptq_dlayer_create(NULL, &wm, &d), GPTQ_ERR_INVALID_ARGUMENT, NULL, "NULL ctx");
    assert_null(d);
    expect(gptq_dlayer_create(ctx, NULL, &d), GPTQ_ERR_INVALID_ARGUMENT, ctx, "NULL w");
    expect(gptq_dlayer_create(ctx, &wm, NULL), GPTQ_ERR_INVALID_ARGUMENT, ctx, "NULL out");
    gptq_matrix bad = wm;
    bad.data = NULL;
    expect(gptq_dlayer_create(ctx, &bad, &d), GPTQ_ERR_INVALID_ARGUMENT, ctx, "NULL w->data");
    bad = wm;
    bad.rows = 0;
    expect(gptq_dlayer_create(ctx, &bad, &d), GPTQ_ERR_SHAPE, ctx, "0 rows");
    bad = wm;
    bad.row_stride = 3;
    expect(gptq_dlayer_create(ctx, &bad, &d), GPTQ_ERR_SHAPE, ctx, "row_stride < cols");
    bad = wm;
    bad.dtype = (gptq_dtype)7;
    expect(gptq_dlayer_create(ctx, &bad, &d), GPTQ_ERR_UNSUPPORTED, ctx, "bad dtype");
    w[5] = NAN;
    expect(gptq_dlayer_create(ctx, &wm, &d), GPTQ_ERR_NON_FINITE, ctx, "NaN in W");
    assert_null(d);
    w[5] = 6;

    expect(gptq_dlayer_create(ctx, &wm, &d), GPTQ_OK, ctx, "valid W");
    assert_int_equal(gptq_dlayer_rows(d), 3);
    assert_int_equal(gptq_dlayer_cols(d), 4);
    assert_int_equal(gptq_dlayer_rows(NULL), 0);
    gptq_matrix xm = tc_matrix_f32(x, 2, 4, 0);
    expect(gptq_matmul_dense(NULL, d, &xm, y, 0), GPTQ_ERR_INVALID_ARGUMENT, NULL, "NULL ctx");
    expect(gptq_matmul_dense(ctx, NULL, &xm, y, 0), GPTQ_ERR_INVALID_ARGUMENT, ctx, "NULL d");
    expect(gptq_matmul_dense(ctx, d, NULL, y, 0), GPTQ_ERR_INVALID_ARGUMENT, ctx, "NULL x");
    expect(gptq_matmul_dense(ctx, d, &xm, NULL, 0), GPTQ_ERR_INVALID_ARGUMENT, ctx, "NULL y");
    expect(gptq_matmul_dense(ctx, d, &xm, y, 2), GPTQ_ERR_SHAPE, ctx, "ldy < N");
    expect(gptq_matmul_dense(ctx, d, &xm, y, -1), GPTQ_ERR_SHAPE, ctx, "negative ldy");
    gptq_matrix x3 = tc_matrix_f32(x, 2, 3, 0);
    expect(gptq_matmul_dense(ctx, d, &x3, y, 0), GPTQ_ERR_SHAPE, ctx, "X cols != K");
    x[2] = INFINITY;
    expect(gptq_matmul_dense(ctx, d, &xm, y, 0), GPTQ_ERR_NON_FINITE, ctx, "Inf in X");
    x[2] = 0;

    /* A layer of another context is refused. */
    gptq_ctx *other = tc_ctx();
    expect(gptq_matmul_dense(other, d, &xm, y, 0), GPTQ_ERR_WRONG_CONTEXT, other, "other ctx");
    gptq_ctx_destroy(other);

    /* The valid call still works after all the failures: rows 0 and 1 of W. */
    expect(gptq_matmul_dense(ctx, d, &xm, y, 0), GPTQ_OK, ctx, "valid product");
    const float want[6] = {1, 5, 9, 2, 6, 10};
    for (int i = 0; i < 6; ++i) assert_float_equal(y[i], want[i], 0.0f);
    assert_string_equal(gptq_last_error(ctx), "");
    gptq_dlayer_destroy(d);
    gptq_dlayer_destroy(NULL);
    gptq_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_shapes_strides),
        cmocka_unit_test(test_chunk_boundaries),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
