/* Bad input through the public API: every NULL argument, zero and negative dimensions,
 * mismatched K, unsupported bits and group sizes, non-finite inputs, wrong struct sizes,
 * objects used with a foreign context, too-small output buffers, and the two numerical
 * edge cases (an all-zero Hessian must work; a Hessian that stays indefinite up to the
 * damping cap must fail with GPTQ_ERR_NOT_POSITIVE_DEFINITE naming the layer). Every
 * failure must come with a non-empty gptq_last_error and leave out-pointers NULL. Leaks are
 * caught by the ASan build of this same program. */
#include "test_common.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define K 16
#define N 8

/* got must be one of want_a / want_b, and the relevant last-error message non-empty. */
static void expect2(const gptq_ctx *ctx, gptq_status got, gptq_status want_a,
                    gptq_status want_b, const char *expr, int line) {
    if (got != want_a && got != want_b)
        fail_msg("line %d: %s returned %s (%d), expected %s", line, expr,
                 gptq_status_string(got), (int)got, gptq_status_string(want_a));
    const char *msg = gptq_last_error(ctx);
    if (msg == NULL || msg[0] == '\0')
        fail_msg("line %d: %s failed with an empty gptq_last_error", line, expr);
}

#define EXPECT(ctx, expr, want) expect2((ctx), (expr), (want), (want), #expr, __LINE__)
#define EXPECT_EITHER(ctx, expr, a, b) expect2((ctx), (expr), (a), (b), #expr, __LINE__)

static float g_w[N * K];
static float g_h[K * K];
static float g_x[4 * K];

static void fill_inputs(void) {
    tc_rng r;
    tc_rng_seed(&r, 1);
    for (int i = 0; i < N * K; ++i) g_w[i] = (float)(0.02 * tc_rng_normal(&r));
    for (int i = 0; i < 4 * K; ++i) g_x[i] = (float)tc_rng_normal(&r);
    /* A well-conditioned SPD Hessian: diagonally dominant. */
    for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) g_h[i * K + j] = i == j ? 2.0f : 0.05f;
}

static gptq_hessian *good_hessian(gptq_ctx *ctx) {
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    assert_int_equal(gptq_hessian_set(h, g_h, K, 100), GPTQ_OK);
    return h;
}

static gptq_qlayer *good_layer(gptq_ctx *ctx, gptq_hessian *h) {
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.group_size = 8;
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(ctx, &p, &w, h, &q, NULL), GPTQ_OK);
    return q;
}

static void test_status_strings(void **state) {
    (void)state;
    for (int s = GPTQ_OK; s <= GPTQ_ERR_INTERNAL; ++s) {
        const char *str = gptq_status_string((gptq_status)s);
        assert_non_null(str);
        assert_true(strlen(str) > 0);
        for (int t = GPTQ_OK; t < s; ++t) /* each status says something different */
            assert_string_not_equal(str, gptq_status_string((gptq_status)t));
    }
    assert_non_null(gptq_status_string((gptq_status)999));
    assert_non_null(gptq_status_string((gptq_status)-1));
    /* Pinned values (ABI): appending is allowed, renumbering is not. */
    assert_int_equal(GPTQ_ERR_NOT_POSITIVE_DEFINITE, 5);
    assert_int_equal(GPTQ_ERR_WRONG_CONTEXT, 13);
    assert_int_equal(GPTQ_ERR_INTERNAL, 14);
    for (int b = GPTQ_BACKEND_AUTO; b <= GPTQ_BACKEND_CUDA; ++b)
        assert_non_null(gptq_backend_name((gptq_backend)b));
    assert_non_null(gptq_backend_name((gptq_backend)42));
    assert_int_equal(gptq_backend_available(GPTQ_BACKEND_AUTO), 1);
    assert_int_equal(gptq_backend_available(GPTQ_BACKEND_CPU), 1);
    assert_int_equal(gptq_backend_available((gptq_backend)42), 0);
}

static void test_ctx_errors(void **state) {
    (void)state;
    gptq_ctx_params_init(NULL); /* must not crash */
    gptq_ctx_destroy(NULL);
    assert_non_null(gptq_last_error(NULL));

    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = tc_backend;
    EXPECT(NULL, gptq_ctx_create(&p, NULL), GPTQ_ERR_INVALID_ARGUMENT);

    gptq_ctx *ctx = (gptq_ctx *)(uintptr_t)1;
    gptq_ctx_params bad = p;
    bad.struct_size = 0;
    EXPECT(NULL, gptq_ctx_create(&bad, &ctx), GPTQ_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    /* From a newer header, with a field this library cannot know set (the bytes must
     * exist: reading past `bad` itself would depend on the stack's contents). */
    struct {
        gptq_ctx_params p;
        unsigned char newer_fields[64];
    } grown;
    memset(&grown, 0, sizeof grown);
    grown.p = p;
    grown.p.struct_size = (uint32_t)sizeof grown;
    grown.newer_fields[40] = 7;
    EXPECT(NULL, gptq_ctx_create(&grown.p, &ctx), GPTQ_ERR_INVALID_ARGUMENT);
    bad = p;
    bad.backend = (gptq_backend)42;
    EXPECT(NULL, gptq_ctx_create(&bad, &ctx), GPTQ_ERR_INVALID_ARGUMENT);
    bad = p;
    bad.n_threads = -1;
    EXPECT(NULL, gptq_ctx_create(&bad, &ctx), GPTQ_ERR_INVALID_ARGUMENT);
    bad = p;
    bad.device_index = -1;
    EXPECT_EITHER(NULL, gptq_ctx_create(&bad, &ctx), GPTQ_ERR_INVALID_ARGUMENT,
                  GPTQ_ERR_BACKEND_UNAVAILABLE);
    assert_null(ctx);

    ctx = tc_ctx();
    assert_int_equal(gptq_ctx_backend(ctx), tc_backend);
    assert_non_null(gptq_ctx_device_name(ctx));
    assert_non_null(gptq_last_error(ctx));
    size_t size = 0;
    EXPECT(NULL, gptq_ctx_pipeline_cache(NULL, NULL, 0, &size), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_ctx_pipeline_cache(ctx, NULL, 0, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    assert_int_equal(gptq_ctx_pipeline_cache(ctx, NULL, 0, &size), GPTQ_OK);
    gptq_ctx_destroy(ctx);
}

/* Device indices count the backend's usable devices; the CPU backend has exactly one. */
static void test_ctx_bad_device_index(void **state) {
    (void)state;
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = tc_backend;
    p.device_index = 1000;
    gptq_ctx *ctx = (gptq_ctx *)(uintptr_t)1;
    const gptq_status st = gptq_ctx_create(&p, &ctx);
    if (st == GPTQ_OK) gptq_ctx_destroy(ctx);
    EXPECT_EITHER(NULL, st, GPTQ_ERR_BACKEND_UNAVAILABLE, GPTQ_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
}

static void test_hessian_errors(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = (gptq_hessian *)(uintptr_t)1;
    EXPECT(NULL, gptq_hessian_create(NULL, K, &h), GPTQ_ERR_INVALID_ARGUMENT);
    assert_null(h);
    EXPECT(ctx, gptq_hessian_create(ctx, K, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_hessian_create(ctx, 0, &h), GPTQ_ERR_SHAPE);
    EXPECT(ctx, gptq_hessian_create(ctx, -3, &h), GPTQ_ERR_SHAPE);
    assert_null(h);
    gptq_hessian_destroy(NULL);
    (void)gptq_hessian_dim(NULL);
    (void)gptq_hessian_tokens(NULL);

    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    float out[K * K];
    /* Nothing accumulated yet. */
    EXPECT(ctx, gptq_hessian_get(h, out, K * K), GPTQ_ERR_INVALID_ARGUMENT);

    gptq_matrix x = tc_matrix_f32(g_x, 4, K, 0);
    EXPECT(NULL, gptq_hessian_add(NULL, &x), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_hessian_add(h, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    gptq_matrix bad = x;
    bad.data = NULL;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_INVALID_ARGUMENT);
    bad = x;
    bad.cols = K - 1;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_SHAPE);
    bad = x;
    bad.rows = 0;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_SHAPE);
    bad.rows = -1;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_SHAPE);
    bad = x;
    bad.row_stride = K - 1;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_SHAPE);
    bad = x;
    bad.dtype = (gptq_dtype)9;
    EXPECT_EITHER(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_INVALID_ARGUMENT,
                  GPTQ_ERR_UNSUPPORTED);

    /* A good batch, then non-finite ones that must leave the accumulator unchanged. */
    assert_int_equal(gptq_hessian_add(h, &x), GPTQ_OK);
    float before[K * K];
    assert_int_equal(gptq_hessian_get(h, before, K * K), GPTQ_OK);
    const int64_t tokens = gptq_hessian_tokens(h);
    assert_int_equal(tokens, 4);
    float xbad[4 * K];
    memcpy(xbad, g_x, sizeof xbad);
    xbad[2 * K + 5] = NAN;
    bad = tc_matrix_f32(xbad, 4, K, 0);
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_NON_FINITE);
    xbad[2 * K + 5] = -INFINITY;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_NON_FINITE);
    uint16_t xh[4 * K];
    for (int i = 0; i < 4 * K; ++i) xh[i] = tc_f32_to_f16(g_x[i]);
    xh[3 * K + 1] = 0x7c00u; /* +Inf in fp16 */
    bad.data = xh;
    bad.dtype = GPTQ_DTYPE_F16;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_NON_FINITE);
    xh[3 * K + 1] = 0x7fc0u; /* NaN in bf16 */
    bad.dtype = GPTQ_DTYPE_BF16;
    EXPECT(ctx, gptq_hessian_add(h, &bad), GPTQ_ERR_NON_FINITE);
    assert_int_equal(gptq_hessian_tokens(h), tokens);
    assert_int_equal(gptq_hessian_get(h, out, K * K), GPTQ_OK);
    assert_memory_equal(out, before, sizeof before);

    EXPECT(NULL, gptq_hessian_get(NULL, out, K * K), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_hessian_get(h, NULL, K * K), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_hessian_get(h, out, K * K - 1), GPTQ_ERR_SHAPE);

    EXPECT(NULL, gptq_hessian_set(NULL, g_h, K, 1), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_hessian_set(h, NULL, K, 1), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_hessian_set(h, g_h, K + 1, 1), GPTQ_ERR_SHAPE);
    EXPECT(ctx, gptq_hessian_set(h, g_h, 0, 1), GPTQ_ERR_SHAPE);
    EXPECT_EITHER(ctx, gptq_hessian_set(h, g_h, K, -1), GPTQ_ERR_INVALID_ARGUMENT,
                  GPTQ_ERR_SHAPE);
    float hbad[K * K];
    memcpy(hbad, g_h, sizeof hbad);
    hbad[3 * K + 4] = hbad[4 * K + 3] = NAN;
    EXPECT(ctx, gptq_hessian_set(h, hbad, K, 1), GPTQ_ERR_NON_FINITE);
    hbad[3 * K + 4] = hbad[4 * K + 3] = INFINITY;
    EXPECT(ctx, gptq_hessian_set(h, hbad, K, 1), GPTQ_ERR_NON_FINITE);
    assert_int_equal(gptq_hessian_get(h, out, K * K), GPTQ_OK);
    assert_memory_equal(out, before, sizeof before); /* failed sets change nothing either */
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

static void test_quantize_errors(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = good_hessian(ctx);
    gptq_quant_params p;
    gptq_quant_params_init(NULL); /* must not crash */
    gptq_quant_params_init(&p);
    p.group_size = 8;
    p.layer_name = "errs.w";
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_qlayer *q = (gptq_qlayer *)(uintptr_t)1;

    EXPECT(NULL, gptq_quantize_layer(NULL, &p, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    assert_null(q);
    EXPECT(ctx, gptq_quantize_layer(ctx, NULL, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, NULL, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &w, NULL, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &w, h, NULL, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(NULL, gptq_quantize_rtn(NULL, &p, &w, &q), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_rtn(ctx, NULL, &w, &q), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_rtn(ctx, &p, NULL, &q), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_rtn(ctx, &p, &w, NULL), GPTQ_ERR_INVALID_ARGUMENT);

    gptq_matrix wb = w;
    wb.data = NULL;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    wb = w;
    wb.cols = K + 1; /* mismatched K between W and the Hessian */
    float wide[N * (K + 1)];
    memset(wide, 0, sizeof wide);
    wb.data = wide;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_SHAPE);
    wb = w;
    wb.rows = 0;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_SHAPE);
    EXPECT(ctx, gptq_quantize_rtn(ctx, &p, &wb, &q), GPTQ_ERR_SHAPE);
    wb.rows = -2;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_SHAPE);
    wb = w;
    wb.cols = 0;
    EXPECT(ctx, gptq_quantize_rtn(ctx, &p, &wb, &q), GPTQ_ERR_SHAPE);
    wb = w;
    wb.row_stride = K - 1;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_SHAPE);
    assert_null(q);

    static const int bad_bits[] = {1, 5, 16, 0, -4};
    for (size_t i = 0; i < sizeof bad_bits / sizeof bad_bits[0]; ++i) {
        gptq_quant_params pb = p;
        pb.bits = bad_bits[i];
        EXPECT_EITHER(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_UNSUPPORTED,
                      GPTQ_ERR_INVALID_ARGUMENT);
        EXPECT_EITHER(ctx, gptq_quantize_rtn(ctx, &pb, &w, &q), GPTQ_ERR_UNSUPPORTED,
                      GPTQ_ERR_INVALID_ARGUMENT);
    }
    static const int bad_groups[] = {0, -2, -128};
    for (size_t i = 0; i < sizeof bad_groups / sizeof bad_groups[0]; ++i) {
        gptq_quant_params pb = p;
        pb.group_size = bad_groups[i];
        EXPECT_EITHER(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_UNSUPPORTED,
                      GPTQ_ERR_INVALID_ARGUMENT);
        EXPECT_EITHER(ctx, gptq_quantize_rtn(ctx, &pb, &w, &q), GPTQ_ERR_UNSUPPORTED,
                      GPTQ_ERR_INVALID_ARGUMENT);
    }
    gptq_quant_params pb = p;
    pb.struct_size = 0;
    EXPECT(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_quantize_rtn(ctx, &pb, &w, &q), GPTQ_ERR_INVALID_ARGUMENT);
    /* A newer, larger layout that sets a field this library does not know: the 8 bytes
     * past the struct must exist (reading past pb itself would be undefined and pass or
     * fail with whatever the stack holds) and one of them is set. */
    struct {
        gptq_quant_params p;
        unsigned char newer_fields[8];
    } grown;
    memset(&grown, 0, sizeof grown);
    grown.p = p;
    grown.p.struct_size = (uint32_t)(sizeof grown.p + sizeof grown.newer_fields);
    grown.newer_fields[3] = 1;
    EXPECT(ctx, gptq_quantize_layer(ctx, &grown.p, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    grown.newer_fields[3] = 0; /* all zero: the newer fields are unused, so it is accepted */
    assert_int_equal(gptq_quantize_layer(ctx, &grown.p, &w, h, &q, NULL), GPTQ_OK);
    gptq_qlayer_destroy(q);
    q = NULL;
    pb = p;
    pb.block_size = 0;
    EXPECT(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    pb = p;
    pb.damp_percent = -0.1f;
    EXPECT(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    pb.damp_percent = NAN;
    EXPECT(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    pb = p;
    pb.mse = GPTQ_MSE_ON;
    pb.mse_grid = 0;
    EXPECT(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    pb = p;
    pb.mse = 7;
    EXPECT(ctx, gptq_quantize_layer(ctx, &pb, &w, h, &q, NULL), GPTQ_ERR_INVALID_ARGUMENT);

    /* A report's struct_size never fails the call: tested in test_output_structs.c. */

    /* Non-finite weights, in every input dtype. */
    float wbad[N * K];
    memcpy(wbad, g_w, sizeof wbad);
    wbad[3 * K + 2] = NAN;
    wb = tc_matrix_f32(wbad, N, K, 0);
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_NON_FINITE);
    EXPECT(ctx, gptq_quantize_rtn(ctx, &p, &wb, &q), GPTQ_ERR_NON_FINITE);
    wbad[3 * K + 2] = INFINITY;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_NON_FINITE);
    uint16_t wh[N * K];
    for (int i = 0; i < N * K; ++i) wh[i] = tc_f32_to_f16(g_w[i]);
    wh[5] = 0xfc00u; /* -Inf */
    wb.data = wh;
    wb.dtype = GPTQ_DTYPE_F16;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &wb, h, &q, NULL), GPTQ_ERR_NON_FINITE);
    assert_null(q);

    /* An accumulator that never saw data has no Hessian. */
    gptq_hessian *empty = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &empty), GPTQ_OK);
    const gptq_status st = gptq_quantize_layer(ctx, &p, &w, empty, &q, NULL);
    assert_int_not_equal(st, GPTQ_OK);
    assert_null(q);
    assert_true(strlen(gptq_last_error(ctx)) > 0);
    gptq_hessian_destroy(empty);

    /* The caller's inputs are untouched by a successful call, too. */
    float w_copy[N * K], h_before[K * K], h_after[K * K];
    memcpy(w_copy, g_w, sizeof w_copy);
    assert_int_equal(gptq_hessian_get(h, h_before, K * K), GPTQ_OK);
    q = good_layer(ctx, h);
    assert_memory_equal(w_copy, g_w, sizeof w_copy);
    assert_int_equal(gptq_hessian_get(h, h_after, K * K), GPTQ_OK);
    assert_memory_equal(h_before, h_after, sizeof h_after);
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

/* All-zero Hessian: every column is dead (docs/gptq-reference.md §2.2), which is legal and must work. */
static void test_all_zero_hessian(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    static const float zeros[K * K];
    assert_int_equal(gptq_hessian_set(h, zeros, K, 10), GPTQ_OK);
    for (int act = 0; act < 2; ++act) {
        gptq_quant_params p;
        gptq_quant_params_init(&p);
        p.group_size = act ? -1 : 8;
        p.desc_act = act;
        gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
        gptq_quant_report rep;
        memset(&rep, 0, sizeof rep);
        rep.struct_size = sizeof rep;
        gptq_qlayer *q = NULL;
        const gptq_status st = gptq_quantize_layer(ctx, &p, &w, h, &q, &rep);
        if (st != GPTQ_OK) fail_msg("all-zero Hessian: %s", gptq_last_error(ctx));
        assert_int_equal(rep.dead_columns, K);
        assert_int_equal(rep.damp_retries, 0);
        float deq[N * K];
        assert_int_equal(gptq_qlayer_dequantize(q, deq, N * K), GPTQ_OK);
        for (int i = 0; i < N * K; ++i) assert_true(deq[i] == 0.0f);
        gptq_qlayer_destroy(q);
    }
    gptq_hessian_destroy(h);

    /* The same through accumulation of all-zero activations. */
    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    static const float x0[3 * K];
    gptq_matrix x = tc_matrix_f32(x0, 3, K, 0);
    assert_int_equal(gptq_hessian_add(h, &x), GPTQ_OK);
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(ctx, &p, &w, h, &q, NULL), GPTQ_OK);
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

/* H = I - (c / K) 1 1^T has eigenvalue 1 - c along the all-ones direction and a positive
 * diagonal 1 - c / K. Damping adds d * mean(diag) to that eigenvalue. */
static void indefinite_hessian(float c, float *h) {
    for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) h[i * K + j] = (i == j ? 1.0f : 0.0f) - c / (float)K;
}

static void test_not_positive_definite(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    float hm[K * K];
    indefinite_hessian(10.0f, hm); /* eigenvalue -9; the cap adds at most 0.375 */
    assert_int_equal(gptq_hessian_set(h, hm, K, 10), GPTQ_OK);
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    static const float increments[] = {0.001f, 0.0f};
    for (int i = 0; i < 2; ++i) {
        gptq_quant_params p;
        gptq_quant_params_init(&p);
        p.layer_name = "model.layers.3.self_attn.q_proj";
        p.damp_auto_increment = increments[i];
        gptq_qlayer *q = (gptq_qlayer *)(uintptr_t)1;
        EXPECT(ctx, gptq_quantize_layer(ctx, &p, &w, h, &q, NULL),
               GPTQ_ERR_NOT_POSITIVE_DEFINITE);
        assert_null(q);
        const char *msg = gptq_last_error(ctx);
        if (!strstr(msg, "model.layers.3.self_attn.q_proj"))
            fail_msg("message does not name the layer: %s", msg);
    }

    /* Eigenvalue -0.1, diagonal 1 - 1.1/16 = 0.93125: damping fixes it once
     * d * 0.93125 > 0.1, i.e. d > 0.1074; steps of 0.01 from 0.01 need about 10 retries. */
    indefinite_hessian(1.1f, hm);
    assert_int_equal(gptq_hessian_set(h, hm, K, 10), GPTQ_OK);
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    gptq_quant_report rep;
    memset(&rep, 0, sizeof rep);
    rep.struct_size = sizeof rep;
    gptq_qlayer *q = NULL;
    const gptq_status st = gptq_quantize_layer(ctx, &p, &w, h, &q, &rep);
    if (st != GPTQ_OK) fail_msg("damping retry did not rescue H: %s", gptq_last_error(ctx));
    fprintf(stderr, "damp_used %g after %d retries\n", rep.damp_used, rep.damp_retries);
    assert_true(rep.damp_used > 0.1074 && rep.damp_used < 0.13);
    assert_true(rep.damp_retries >= 9);
    assert_true(rep.damp_used <= 0.01 + 0.01 * rep.damp_retries + 1e-4);
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

typedef struct progress_log {
    int calls, cancel_at, monotonic;
    int64_t last_done, total;
} progress_log;

static int on_progress(void *user, int64_t done, int64_t total) {
    progress_log *log = user;
    if (done < log->last_done || done > total) log->monotonic = 0;
    log->last_done = done;
    log->total = total;
    return ++log->calls == log->cancel_at;
}

/* The progress callback sees done <= total, never decreasing; returning non-zero cancels
 * with GPTQ_ERR_CANCELLED and no layer. */
static void test_progress_and_cancel(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = good_hessian(ctx);
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.group_size = 8;
    p.block_size = 4; /* several blocks: more than one progress report */
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    progress_log log = {0, -1, 1, 0, 0};
    p.progress = on_progress;
    p.progress_user = &log;
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(ctx, &p, &w, h, &q, NULL), GPTQ_OK);
    gptq_qlayer_destroy(q);
    assert_true(log.calls >= 1);
    assert_true(log.monotonic);
    assert_int_equal(log.total, K);

    progress_log stop = {0, 1, 1, 0, 0};
    p.progress_user = &stop;
    q = (gptq_qlayer *)(uintptr_t)1;
    EXPECT(ctx, gptq_quantize_layer(ctx, &p, &w, h, &q, NULL), GPTQ_ERR_CANCELLED);
    assert_null(q);
    assert_int_equal(stop.calls, 1);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

static void test_wrong_context(void **state) {
    (void)state;
    gptq_ctx *a = tc_ctx(), *b = tc_ctx();
    gptq_hessian *ha = good_hessian(a);
    gptq_qlayer *qa = good_layer(a, ha);
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_qlayer *q = NULL;
    EXPECT(b, gptq_quantize_layer(b, &p, &w, ha, &q, NULL), GPTQ_ERR_WRONG_CONTEXT);
    assert_null(q);
    float y[4 * N];
    gptq_matrix x = tc_matrix_f32(g_x, 4, K, 0);
    EXPECT(b, gptq_matmul_q4(b, qa, &x, y, 0), GPTQ_ERR_WRONG_CONTEXT);
    EXPECT(b, gptq_matmul_q(b, qa, &x, y, 0), GPTQ_ERR_WRONG_CONTEXT);
    assert_int_equal(gptq_matmul_q4(a, qa, &x, y, 0), GPTQ_OK);
    gptq_qlayer_destroy(qa);
    gptq_hessian_destroy(ha);
    gptq_ctx_destroy(a);
    gptq_ctx_destroy(b);
}

static void test_getter_errors(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = good_hessian(ctx);
    gptq_qlayer *q = good_layer(ctx, h);
    gptq_qlayer_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT(NULL, gptq_qlayer_get_info(NULL, &info), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_qlayer_get_info(q, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    info.struct_size = 4;
    EXPECT(ctx, gptq_qlayer_get_info(q, &info), GPTQ_ERR_INVALID_ARGUMENT);
    info.struct_size = sizeof info;
    assert_int_equal(gptq_qlayer_get_info(q, &info), GPTQ_OK);

    const size_t qw = (size_t)(info.qweight_rows * info.qweight_cols);
    const size_t qz = (size_t)(info.qzeros_rows * info.qzeros_cols);
    const size_t gn = (size_t)(info.scales_rows * info.scales_cols);
    const size_t nk = (size_t)(info.n * info.k), kk = (size_t)info.k;
    int32_t i32[N * K];
    float f32[N * K];
    uint16_t u16[N * K];
#define GETTER_CASES(call_q, call_dst, count_ok)                                             \
    do {                                                                                     \
        EXPECT(NULL, call_q, GPTQ_ERR_INVALID_ARGUMENT);                                     \
        EXPECT(ctx, call_dst, GPTQ_ERR_INVALID_ARGUMENT);                                    \
        EXPECT(ctx, count_ok, GPTQ_ERR_SHAPE);                                               \
    } while (0)
    GETTER_CASES(gptq_qlayer_get_qweight(NULL, i32, qw), gptq_qlayer_get_qweight(q, NULL, qw),
                 gptq_qlayer_get_qweight(q, i32, qw - 1));
    GETTER_CASES(gptq_qlayer_get_qzeros(NULL, GPTQ_ZEROS_V2, i32, qz),
                 gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, NULL, qz),
                 gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, i32, qz - 1));
    GETTER_CASES(gptq_qlayer_get_scales_f16(NULL, u16, gn),
                 gptq_qlayer_get_scales_f16(q, NULL, gn),
                 gptq_qlayer_get_scales_f16(q, u16, gn - 1));
    GETTER_CASES(gptq_qlayer_get_g_idx(NULL, i32, kk), gptq_qlayer_get_g_idx(q, NULL, kk),
                 gptq_qlayer_get_g_idx(q, i32, kk - 1));
    GETTER_CASES(gptq_qlayer_get_codes(NULL, i32, nk), gptq_qlayer_get_codes(q, NULL, nk),
                 gptq_qlayer_get_codes(q, i32, nk - 1));
    GETTER_CASES(gptq_qlayer_get_scales(NULL, f32, gn), gptq_qlayer_get_scales(q, NULL, gn),
                 gptq_qlayer_get_scales(q, f32, gn - 1));
    GETTER_CASES(gptq_qlayer_get_zeros(NULL, i32, gn), gptq_qlayer_get_zeros(q, NULL, gn),
                 gptq_qlayer_get_zeros(q, i32, gn - 1));
    GETTER_CASES(gptq_qlayer_get_perm(NULL, i32, kk), gptq_qlayer_get_perm(q, NULL, kk),
                 gptq_qlayer_get_perm(q, i32, kk - 1));
    GETTER_CASES(gptq_qlayer_dequantize(NULL, f32, nk), gptq_qlayer_dequantize(q, NULL, nk),
                 gptq_qlayer_dequantize(q, f32, nk - 1));
#undef GETTER_CASES
    EXPECT(ctx, gptq_qlayer_get_qzeros(q, (gptq_zeros_format)0, i32, qz),
           GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_qlayer_get_qzeros(q, (gptq_zeros_format)3, i32, qz),
           GPTQ_ERR_INVALID_ARGUMENT);
    gptq_qlayer_destroy(NULL);
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

static void test_from_packed_errors(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = good_hessian(ctx);
    gptq_qlayer *src = good_layer(ctx, h);
    gptq_qlayer_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    assert_int_equal(gptq_qlayer_get_info(src, &info), GPTQ_OK);
    int32_t qweight[N * K], qzeros[N * K], g_idx[K];
    uint16_t scales[N * K];
    assert_int_equal(gptq_qlayer_get_qweight(src, qweight, N * K), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_qzeros(src, GPTQ_ZEROS_V2, qzeros, N * K), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_scales_f16(src, scales, N * K), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_g_idx(src, g_idx, K), GPTQ_OK);
    gptq_qlayer_destroy(src);

    gptq_packed_layer p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n = N;
    p.k = K;
    p.bits = 4;
    p.group_size = 8;
    p.zeros_format = GPTQ_ZEROS_V2;
    p.qweight = qweight;
    p.qzeros = qzeros;
    p.scales = scales;
    p.scales_dtype = GPTQ_DTYPE_F16;
    p.g_idx = g_idx;
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_qlayer_from_packed(ctx, &p, &q), GPTQ_OK);
    gptq_qlayer_destroy(q);
    q = (gptq_qlayer *)(uintptr_t)1;

    EXPECT(NULL, gptq_qlayer_from_packed(NULL, &p, &q), GPTQ_ERR_INVALID_ARGUMENT);
    assert_null(q);
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, NULL, &q), GPTQ_ERR_INVALID_ARGUMENT);
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &p, NULL), GPTQ_ERR_INVALID_ARGUMENT);
    gptq_packed_layer b = p;
    b.qweight = NULL;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.qzeros = NULL;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.scales = NULL;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.struct_size = 0;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.n = 0;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_SHAPE);
    b.n = -N;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_SHAPE);
    b = p;
    b.k = 0;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_SHAPE);
    b.k = -1;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_SHAPE);
    b = p;
    b.bits = 5;
    EXPECT_EITHER(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_UNSUPPORTED,
                  GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.group_size = 0;
    EXPECT_EITHER(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_UNSUPPORTED,
                  GPTQ_ERR_INVALID_ARGUMENT);
    b.group_size = -2;
    EXPECT_EITHER(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_UNSUPPORTED,
                  GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.zeros_format = (gptq_zeros_format)0;
    EXPECT(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_INVALID_ARGUMENT);
    b = p;
    b.scales_dtype = (gptq_dtype)9;
    EXPECT_EITHER(ctx, gptq_qlayer_from_packed(ctx, &b, &q), GPTQ_ERR_INVALID_ARGUMENT,
                  GPTQ_ERR_UNSUPPORTED);
    assert_null(q);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

static void test_matmul_errors(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = good_hessian(ctx);
    gptq_qlayer *q = good_layer(ctx, h);
    float y[4 * (N + 4)];
    gptq_matrix x = tc_matrix_f32(g_x, 4, K, 0);
    float xw[4 * (K + 1)];
    memset(xw, 0, sizeof xw);
    for (int which = 0; which < 2; ++which) {
        gptq_status (*fn)(gptq_ctx *, const gptq_qlayer *, const gptq_matrix *, float *,
                          int64_t) = which ? gptq_matmul_q : gptq_matmul_q4;
        EXPECT(NULL, fn(NULL, q, &x, y, 0), GPTQ_ERR_INVALID_ARGUMENT);
        EXPECT(ctx, fn(ctx, NULL, &x, y, 0), GPTQ_ERR_INVALID_ARGUMENT);
        EXPECT(ctx, fn(ctx, q, NULL, y, 0), GPTQ_ERR_INVALID_ARGUMENT);
        EXPECT(ctx, fn(ctx, q, &x, NULL, 0), GPTQ_ERR_INVALID_ARGUMENT);
        gptq_matrix b = x;
        b.data = NULL;
        EXPECT(ctx, fn(ctx, q, &b, y, 0), GPTQ_ERR_INVALID_ARGUMENT);
        b = tc_matrix_f32(xw, 4, K + 1, 0);
        EXPECT(ctx, fn(ctx, q, &b, y, 0), GPTQ_ERR_SHAPE);
        b = x;
        b.rows = 0;
        EXPECT(ctx, fn(ctx, q, &b, y, 0), GPTQ_ERR_SHAPE);
        b.rows = -1;
        EXPECT(ctx, fn(ctx, q, &b, y, 0), GPTQ_ERR_SHAPE);
        b = x;
        b.row_stride = K - 1;
        EXPECT(ctx, fn(ctx, q, &b, y, 0), GPTQ_ERR_SHAPE);
        EXPECT(ctx, fn(ctx, q, &x, y, N - 1), GPTQ_ERR_SHAPE);
        EXPECT(ctx, fn(ctx, q, &x, y, -1), GPTQ_ERR_SHAPE);
        b = x;
        b.dtype = (gptq_dtype)9;
        EXPECT_EITHER(ctx, fn(ctx, q, &b, y, 0), GPTQ_ERR_INVALID_ARGUMENT,
                      GPTQ_ERR_UNSUPPORTED);
        assert_int_equal(fn(ctx, q, &x, y, N + 4), GPTQ_OK);
    }
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    fill_inputs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_ctx_bad_device_index),
        cmocka_unit_test(test_hessian_errors),
        cmocka_unit_test(test_quantize_errors),
        cmocka_unit_test(test_all_zero_hessian),
        cmocka_unit_test(test_not_positive_definite),
        cmocka_unit_test(test_progress_and_cancel),
        cmocka_unit_test(test_wrong_context),
        cmocka_unit_test(test_getter_errors),
        cmocka_unit_test(test_from_packed_errors),
        cmocka_unit_test(test_matmul_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
