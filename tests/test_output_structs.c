/* The caller-sized structs at the API's edge:
 * - gptq_quant_params_validate refuses exactly what gptq_quantize_rtn / gptq_quantize_layer
 *   refuse, with the same status, a message in gptq_last_error(NULL), and accepts the rest;
 * - gptq_quant_report (optional output) never fails a quantization: struct_size 0 means this
 *   header's size, other sizes receive the leading bytes only;
 * - gptq_qlayer_info: struct_size 0 means this header's size, other wrong sizes are refused. */
#include "test_common.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define K 32
#define N 8

static float g_w[N * K];
static float g_h[K * K];

static void fill_inputs(void) {
    tc_rng r;
    tc_rng_seed(&r, 7);
    for (int i = 0; i < N * K; ++i) g_w[i] = (float)(0.02 * tc_rng_normal(&r));
    for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) g_h[i * K + j] = i == j ? 2.0f : 0.05f;
}

static gptq_hessian *make_hessian(gptq_ctx *ctx) {
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, K, &h), GPTQ_OK);
    assert_int_equal(gptq_hessian_set(h, g_h, K, 100), GPTQ_OK);
    return h;
}

/* One bad field per case; validate must agree with gptq_quantize_rtn on the status. */
static void test_validate_matches_quantize(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_quant_params good;
    gptq_quant_params_init(&good);
    good.group_size = 16;
    assert_int_equal(gptq_quant_params_validate(&good), GPTQ_OK);
    assert_string_equal(gptq_last_error(NULL), "");

    enum { N_CASES = 14 };
    gptq_quant_params bad[N_CASES];
    for (int i = 0; i < N_CASES; ++i) bad[i] = good;
    bad[0].bits = 5;
    bad[1].bits = 0;
    bad[2].group_size = 0;
    bad[3].group_size = -5;
    bad[4].block_size = 0;
    bad[5].damp_percent = -0.5f;
    bad[6].damp_percent = 2.0f; /* above damp_max 1.0 */
    bad[7].damp_percent = NAN;
    bad[8].damp_max = INFINITY;
    bad[9].damp_auto_increment = -1.0f;
    bad[10].mse = 3;
    bad[11].mse = GPTQ_MSE_ON;
    bad[11].mse_grid = 0;
    bad[12].mse = GPTQ_MSE_ON;
    bad[12].mse_maxshrink = 1.5f;
    bad[13].struct_size = 0;
    for (int i = 0; i < N_CASES; ++i) {
        const gptq_status v = gptq_quant_params_validate(&bad[i]);
        if (v == GPTQ_OK) fail_msg("case %d: validate accepted bad params", i);
        if (gptq_last_error(NULL)[0] == '\0') fail_msg("case %d: no message", i);
        gptq_qlayer *q = NULL;
        const gptq_status r = gptq_quantize_rtn(ctx, &bad[i], &w, &q);
        if (r != v)
            fail_msg("case %d: validate says %s, gptq_quantize_rtn says %s", i,
                     gptq_status_string(v), gptq_status_string(r));
        assert_null(q);
    }
    assert_int_equal(gptq_quant_params_validate(NULL), GPTQ_ERR_INVALID_ARGUMENT);
    /* The layer name appears once in the message. */
    bad[0].layer_name = "blk.0.q";
    assert_int_equal(gptq_quant_params_validate(&bad[0]), GPTQ_ERR_UNSUPPORTED);
    const char *msg = gptq_last_error(NULL);
    const char *first = strstr(msg, "blk.0.q");
    assert_non_null(first);
    assert_null(strstr(first + 1, "blk.0.q"));
    gptq_ctx_destroy(ctx);
}

static void quantize_with_report(gptq_ctx *ctx, gptq_hessian *h, gptq_quant_report *rep) {
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.group_size = 16;
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(ctx, &p, &w, h, &q, rep), GPTQ_OK);
    assert_non_null(q);
    gptq_qlayer_destroy(q);
}

static void test_report_sizes(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *h = make_hessian(ctx);

    gptq_quant_report full;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    quantize_with_report(ctx, h, &full);
    assert_true(full.loss > 0 && full.rel_output_error > 0 && full.damp_used > 0);

    /* 0: filled as if sizeof, and struct_size set. */
    gptq_quant_report zero;
    memset(&zero, 0, sizeof zero);
    quantize_with_report(ctx, h, &zero);
    assert_int_equal(zero.struct_size, sizeof zero);
    assert_true(zero.loss == full.loss && zero.rel_output_error == full.rel_output_error);
    assert_true(zero.damp_used == full.damp_used && zero.damp_retries == full.damp_retries);
    assert_true(zero.dead_columns == full.dead_columns);

    /* An older header that knew only loss and rel_output_error: those are filled, the
     * bytes beyond its size are not touched. */
    gptq_quant_report older;
    memset(&older, 0xAB, sizeof older);
    older.struct_size = (uint32_t)offsetof(gptq_quant_report, damp_used);
    quantize_with_report(ctx, h, &older);
    assert_int_equal(older.struct_size, offsetof(gptq_quant_report, damp_used));
    assert_true(older.loss == full.loss && older.rel_output_error == full.rel_output_error);
    const unsigned char *tail = (const unsigned char *)&older + older.struct_size;
    for (size_t i = 0; i < sizeof older - older.struct_size; ++i) assert_int_equal(tail[i], 0xAB);

    /* Nonsense sizes never fail the quantization. */
    gptq_quant_report tiny;
    memset(&tiny, 0, sizeof tiny);
    tiny.struct_size = 3;
    quantize_with_report(ctx, h, &tiny);
    assert_int_equal(tiny.struct_size, 3);
    assert_true(tiny.loss == 0.0);
    gptq_quant_report newer;
    memset(&newer, 0, sizeof newer);
    newer.struct_size = sizeof newer + 64;
    quantize_with_report(ctx, h, &newer);
    assert_true(newer.loss == full.loss);

    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

static void test_info_sizes(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.group_size = 16;
    gptq_matrix w = tc_matrix_f32(g_w, N, K, 0);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_rtn(ctx, &p, &w, &q), GPTQ_OK);

    gptq_qlayer_info set, zero;
    memset(&set, 0, sizeof set);
    set.struct_size = sizeof set;
    assert_int_equal(gptq_qlayer_get_info(q, &set), GPTQ_OK);
    memset(&zero, 0, sizeof zero);
    assert_int_equal(gptq_qlayer_get_info(q, &zero), GPTQ_OK);
    assert_int_equal(zero.struct_size, sizeof zero);
    assert_memory_equal(&zero, &set, sizeof set);
    assert_int_equal(zero.n, N);
    assert_int_equal(zero.k, K);
    assert_int_equal(zero.n_groups, K / 16);

    gptq_qlayer_info odd;
    memset(&odd, 0, sizeof odd);
    odd.struct_size = 4;
    assert_int_equal(gptq_qlayer_get_info(q, &odd), GPTQ_ERR_INVALID_ARGUMENT);
    assert_true(gptq_last_error(ctx)[0] != '\0');
    assert_int_equal(odd.n, 0);

    gptq_qlayer_destroy(q);
    gptq_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    fill_inputs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_matches_quantize),
        cmocka_unit_test(test_report_sizes),
        cmocka_unit_test(test_info_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
