/* Numerically hostile but finite inputs never give a success status with non-finite or
 * silently zeroed results (issue: "no silent wrong answers"):
 * - weights spanning beyond fp32 (±3e38): the scale would overflow -> GPTQ_ERR_NON_FINITE,
 *   for GPTQ and RTN alike;
 * - asymmetric groups of subnormal weights: the scale would underflow to 0 and the zero
 *   point become NaN -> GPTQ_ERR_INVALID_ARGUMENT naming the cause;
 * - fp16 export of scales outside fp16's range -> refused, the f32 scales still readable;
 * - activations whose squares overflow the fp32 Hessian -> refused before accumulating;
 * - a tiny but positive definite H (1e-42 I) quantizes, with exactly the codes, scales and
 *   zeros of H = I (the library rescales H by a power of 4, which is exact);
 * - an indefinite H is reported as such. */
#include "test_common.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum { N = 8, K = 64 };

static void fill_weights(float *w, double amplitude, uint64_t seed) {
    tc_rng r;
    tc_rng_seed(&r, seed);
    for (int i = 0; i < N * K; ++i) w[i] = (float)(amplitude * (2.0 * tc_rng_uniform(&r) - 1.0));
}

static gptq_hessian *identity_hessian(gptq_ctx *ctx, float diag) {
    float *h = tc_xcalloc((size_t)K * K, sizeof(float));
    for (int j = 0; j < K; ++j) h[j * K + j] = diag;
    gptq_hessian *hs = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &hs), GPTQ_OK);
    assert_int_equal(gptq_hessian_set(hs, h, K, 1000), GPTQ_OK);
    free(h);
    return hs;
}

static void expect_error(gptq_ctx *ctx, gptq_status got, gptq_status want, const char *text) {
    assert_int_equal(got, want);
    const char *msg = gptq_last_error(ctx);
    if (!strstr(msg, text)) fail_msg("message \"%s\" lacks \"%s\"", msg, text);
}

static void test_scale_overflow(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float *w = tc_xmalloc(sizeof(float) * N * K);
    fill_weights(w, 3e38, 1);
    gptq_matrix wm = tc_matrix_f32(w, N, K, 0);
    gptq_hessian *h = identity_hessian(ctx, 1.0f);
    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    gptq_qlayer *q = NULL;
    expect_error(ctx, gptq_quantize_layer(ctx, &qp, &wm, h, &q, NULL), GPTQ_ERR_NON_FINITE,
                 "overflows fp32");
    assert_null(q);
    expect_error(ctx, gptq_quantize_rtn(ctx, &qp, &wm, &q), GPTQ_ERR_NON_FINITE,
                 "overflows fp32");
    assert_null(q);
    gptq_hessian_destroy(h);
    free(w);
    gptq_ctx_destroy(ctx);
}

static void test_scale_underflow(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float *w = tc_xmalloc(sizeof(float) * N * K);
    const float tiniest = 1.40129846e-45f; /* the smallest subnormal */
    for (int i = 0; i < N * K; ++i) w[i] = tiniest;
    gptq_matrix wm = tc_matrix_f32(w, N, K, 0);
    gptq_hessian *h = identity_hessian(ctx, 1.0f);
    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.sym = 0;
    gptq_qlayer *q = NULL;
    /* A device that flushes subnormals to zero sees an all-zero group and may quantize it
     * to zero: acceptable (the weights are 1e-45 from it), as long as it is finite. */
    const gptq_status st = gptq_quantize_layer(ctx, &qp, &wm, h, &q, NULL);
    if (st == GPTQ_OK) {
        float *deq = tc_xmalloc(sizeof(float) * N * K);
        assert_int_equal(gptq_qlayer_dequantize(q, deq, (size_t)N * K), GPTQ_OK);
        for (int i = 0; i < N * K; ++i) assert_true(isfinite(deq[i]) && fabsf(deq[i]) <= 1e-44f);
        free(deq);
        gptq_qlayer_destroy(q);
        q = NULL;
    } else {
        expect_error(ctx, st, GPTQ_ERR_INVALID_ARGUMENT, "underflows");
    }
    expect_error(ctx, gptq_quantize_rtn(ctx, &qp, &wm, &q), GPTQ_ERR_INVALID_ARGUMENT,
                 "underflows");
    assert_null(q);
    gptq_hessian_destroy(h);
    free(w);
    gptq_ctx_destroy(ctx);
}

static void test_fp16_export_range(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float *w = tc_xmalloc(sizeof(float) * N * K);
    fill_weights(w, 1e-9, 2); /* scales ~1e-10, below fp16's smallest subnormal */
    gptq_matrix wm = tc_matrix_f32(w, N, K, 0);
    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_rtn(ctx, &qp, &wm, &q), GPTQ_OK);
    gptq_qlayer_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    assert_int_equal(gptq_qlayer_get_info(q, &info), GPTQ_OK);
    const size_t count = (size_t)(info.n_groups * N);
    uint16_t *h16 = tc_xmalloc(count * sizeof(uint16_t));
    float *f32 = tc_xmalloc(count * sizeof(float));
    expect_error(ctx, gptq_qlayer_get_scales_f16(q, h16, count), GPTQ_ERR_UNSUPPORTED,
                 "outside fp16's range");
    assert_int_equal(gptq_qlayer_get_scales(q, f32, count), GPTQ_OK);
    for (size_t i = 0; i < count; ++i) assert_true(f32[i] > 0.0f && f32[i] < 1e-8f);
    free(h16);
    free(f32);
    gptq_qlayer_destroy(q);
    free(w);
    gptq_ctx_destroy(ctx);
}

static void test_hessian_overflow(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float *x = tc_xmalloc(sizeof(float) * 4 * K);
    for (int i = 0; i < 4 * K; ++i) x[i] = 1e20f;
    gptq_matrix xm = tc_matrix_f32(x, 4, K, 0);
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    expect_error(ctx, gptq_hessian_add(h, &xm), GPTQ_ERR_NON_FINITE, "overflow the fp32 Hessian");
    assert_int_equal(gptq_hessian_tokens(h), 0); /* refused before any accumulation */
    for (int i = 0; i < 4 * K; ++i) x[i] = 1.0f;
    assert_int_equal(gptq_hessian_add(h, &xm), GPTQ_OK);
    gptq_hessian_destroy(h);
    free(x);
    gptq_ctx_destroy(ctx);
}

static void test_tiny_hessian_matches_identity(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float *w = tc_xmalloc(sizeof(float) * N * K);
    fill_weights(w, 0.05, 3);
    gptq_matrix wm = tc_matrix_f32(w, N, K, 0);
    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.group_size = 32;
    gptq_hessian *h1 = identity_hessian(ctx, 1.0f);
    gptq_hessian *ht = identity_hessian(ctx, 1e-42f);
    gptq_qlayer *q1 = NULL, *qt = NULL;
    gptq_quant_report r1, rt;
    memset(&r1, 0, sizeof r1);
    memset(&rt, 0, sizeof rt);
    r1.struct_size = rt.struct_size = sizeof r1;
    assert_int_equal(gptq_quantize_layer(ctx, &qp, &wm, h1, &q1, &r1), GPTQ_OK);
    assert_int_equal(gptq_quantize_layer(ctx, &qp, &wm, ht, &qt, &rt), GPTQ_OK);
    int32_t c1[N * K], ct[N * K];
    float s1[2 * N], st[2 * N];
    assert_int_equal(gptq_qlayer_get_codes(q1, c1, N * K), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_codes(qt, ct, N * K), GPTQ_OK);
    assert_memory_equal(c1, ct, sizeof c1);
    assert_int_equal(gptq_qlayer_get_scales(q1, s1, 2 * N), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_scales(qt, st, 2 * N), GPTQ_OK);
    assert_memory_equal(s1, st, sizeof s1);
    /* The loss scales with H: 1e-42 (as stored in fp32) times that of H = I, to rounding. */
    const double expect = r1.loss * (double)1e-42f;
    assert_true(fabs(rt.loss - expect) <= 1e-5 * expect);
    gptq_qlayer_destroy(q1);
    gptq_qlayer_destroy(qt);
    gptq_hessian_destroy(h1);
    gptq_hessian_destroy(ht);
    free(w);
    gptq_ctx_destroy(ctx);
}

static void test_indefinite_hessian_named(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    float *w = tc_xmalloc(sizeof(float) * N * K);
    fill_weights(w, 0.05, 4);
    gptq_matrix wm = tc_matrix_f32(w, N, K, 0);
    float *h = tc_xcalloc((size_t)K * K, sizeof(float));
    for (int j = 0; j < K; ++j) h[j * K + j] = 1.0f;
    h[0 * K + 1] = h[1 * K + 0] = 3.0f; /* [[1,3],[3,1]] has eigenvalue -2 */
    gptq_hessian *hs = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &hs), GPTQ_OK);
    assert_int_equal(gptq_hessian_set(hs, h, K, 100), GPTQ_OK);
    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.damp_max = 0.05f;
    gptq_qlayer *q = NULL;
    expect_error(ctx, gptq_quantize_layer(ctx, &qp, &wm, hs, &q, NULL),
                 GPTQ_ERR_NOT_POSITIVE_DEFINITE, "indefinite");
    gptq_hessian_destroy(hs);
    free(h);
    free(w);
    gptq_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_overflow),
        cmocka_unit_test(test_scale_underflow),
        cmocka_unit_test(test_fp16_export_range),
        cmocka_unit_test(test_hessian_overflow),
        cmocka_unit_test(test_tiny_hessian_matches_identity),
        cmocka_unit_test(test_indefinite_hessian_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
