/* Growable structs across versions (the struct_size rule in gptq.h): an application built
 * against the 0.1.0 header (frozen layouts in abi_v0_1_0.h) gets the same results as one
 * built against this header; one built against a newer header (a struct with extra
 * trailing bytes) is accepted when those bytes are zero and refused with a message when
 * they are not; a size below the 0.1.0 layout is refused. CPU backend; milliseconds. */
#include "abi_v0_1_0.h"
#include "test_common.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The 0.1.0 fields sit where they sat: the current layouts extend the old ones. */
#define SAME_FIELD(old, cur, f) \
    _Static_assert(offsetof(old, f) == offsetof(cur, f), #cur "." #f " moved since 0.1.0")
SAME_FIELD(v010_ctx_params, gptq_ctx_params, pipeline_cache_size);
SAME_FIELD(v010_ctx_params, gptq_ctx_params, n_threads);
SAME_FIELD(v010_quant_params, gptq_quant_params, bits);
SAME_FIELD(v010_quant_params, gptq_quant_params, damp_max);
SAME_FIELD(v010_quant_params, gptq_quant_params, mse_norm);
SAME_FIELD(v010_quant_params, gptq_quant_params, progress_user);
SAME_FIELD(v010_quant_report, gptq_quant_report, dead_columns);
SAME_FIELD(v010_quant_report, gptq_quant_report, seconds);
SAME_FIELD(v010_qlayer_info, gptq_qlayer_info, static_groups);
SAME_FIELD(v010_qlayer_info, gptq_qlayer_info, g_idx_len);
SAME_FIELD(v010_packed_layer, gptq_packed_layer, scales);
SAME_FIELD(v010_packed_layer, gptq_packed_layer, g_idx);
_Static_assert(sizeof(v010_quant_params) <= sizeof(gptq_quant_params), "structs only grow");
_Static_assert(sizeof(v010_qlayer_info) <= sizeof(gptq_qlayer_info), "structs only grow");

enum { N = 8, K = 64, TOKENS = 256 };

typedef struct layer_fixture {
    gptq_ctx *ctx;
    gptq_hessian *h;
    float w[N * K];
    gptq_matrix wm;
} layer_fixture;

static int setup(void **state) {
    layer_fixture *f = tc_xcalloc(1, sizeof *f);
    v010_ctx_params cp; /* as a 0.1.0 application fills it */
    memset(&cp, 0, sizeof cp);
    cp.struct_size = sizeof cp;
    cp.backend = GPTQ_BACKEND_CPU;
    cp.n_threads = 1;
    if (gptq_ctx_create((const gptq_ctx_params *)&cp, &f->ctx) != GPTQ_OK) return -1;
    tc_rng r;
    tc_rng_seed(&r, 7);
    float *x = tc_xmalloc(sizeof(float) * TOKENS * K);
    for (int i = 0; i < TOKENS * K; ++i) x[i] = (float)tc_rng_normal(&r);
    for (int i = 0; i < N * K; ++i) f->w[i] = (float)tc_rng_normal(&r);
    gptq_matrix xm = tc_matrix_f32(x, TOKENS, K, 0);
    if (gptq_hessian_create(f->ctx, K, &f->h) != GPTQ_OK || gptq_hessian_add(f->h, &xm) != GPTQ_OK)
        return -1;
    free(x);
    f->wm = tc_matrix_f32(f->w, N, K, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    layer_fixture *f = *state;
    gptq_hessian_destroy(f->h);
    gptq_ctx_destroy(f->ctx);
    free(f);
    return 0;
}

static gptq_qlayer *quantize(layer_fixture *f, const void *params, void *report) {
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(f->ctx, params, &f->wm, f->h, &q, report), GPTQ_OK);
    return q;
}

static void assert_same_codes(const gptq_qlayer *a, const gptq_qlayer *b) {
    int32_t ca[N * K], cb[N * K];
    assert_int_equal(gptq_qlayer_get_codes(a, ca, N * K), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_codes(b, cb, N * K), GPTQ_OK);
    assert_memory_equal(ca, cb, sizeof ca);
}

/* A 0.1.0 application: its params (with 0.1.0's defaults), report and info layouts. */
static void test_application_built_against_0_1_0(void **state) {
    layer_fixture *f = *state;
    v010_quant_params old;
    memset(&old, 0, sizeof old);
    old.struct_size = sizeof old;
    old.bits = 4, old.group_size = 16, old.block_size = 128, old.desc_act = 1;
    old.damp_percent = 0.01f, old.damp_auto_increment = 0.01f, old.damp_max = 1.0f;
    old.mse = GPTQ_MSE_OFF, old.mse_grid = 100, old.mse_maxshrink = 0.8f, old.mse_norm = 2.4f;
    v010_quant_report old_rep;
    memset(&old_rep, 0, sizeof old_rep);
    old_rep.struct_size = sizeof old_rep;
    gptq_qlayer *q_old = quantize(f, &old, &old_rep);

    gptq_quant_params cur;
    gptq_quant_params_init(&cur);
    cur.group_size = 16, cur.desc_act = 1;
    gptq_quant_report rep = {.struct_size = sizeof rep};
    gptq_qlayer *q_cur = quantize(f, &cur, &rep);
    assert_same_codes(q_old, q_cur);
    assert_int_equal(old_rep.struct_size, sizeof old_rep);
    assert_true(old_rep.loss == rep.loss && old_rep.rel_output_error == rep.rel_output_error);
    assert_true(old_rep.damp_used == rep.damp_used && old_rep.dead_columns == rep.dead_columns);
    assert_true(old_rep.loss > 0.0);

    v010_qlayer_info old_info;
    memset(&old_info, 0, sizeof old_info);
    old_info.struct_size = sizeof old_info;
    assert_int_equal(gptq_qlayer_get_info(q_old, (gptq_qlayer_info *)&old_info), GPTQ_OK);
    gptq_qlayer_info info = {.struct_size = sizeof info};
    assert_int_equal(gptq_qlayer_get_info(q_cur, &info), GPTQ_OK);
    assert_memory_equal(&old_info, &info, sizeof old_info);
    assert_int_equal(old_info.n_groups, K / 16);
    gptq_qlayer_destroy(q_old);
    gptq_qlayer_destroy(q_cur);
}

/* Structs from a "newer header": this version's struct followed by unknown fields. */
typedef struct newer_quant_params { gptq_quant_params p; uint64_t future[3]; } newer_quant_params;
typedef struct newer_ctx_params { gptq_ctx_params p; uint64_t future[3]; } newer_ctx_params;
typedef struct newer_report { gptq_quant_report r; uint64_t future[3]; } newer_report;
typedef struct newer_info { gptq_qlayer_info i; uint64_t future[3]; } newer_info;
typedef struct newer_packed { gptq_packed_layer p; uint64_t future[3]; } newer_packed;

static void assert_refused_as_newer(gptq_status st, const gptq_ctx *ctx) {
    assert_int_equal(st, GPTQ_ERR_INVALID_ARGUMENT);
    const char *msg = gptq_last_error(ctx);
    if (!strstr(msg, "newer header")) fail_msg("unexpected message: %s", msg);
}

static void test_newer_header_params(void **state) {
    layer_fixture *f = *state;
    newer_quant_params np;
    memset(&np, 0, sizeof np);
    gptq_quant_params_init(&np.p);
    np.p.struct_size = sizeof np;
    gptq_quant_params cur;
    gptq_quant_params_init(&cur);
    gptq_qlayer *a = quantize(f, &np, NULL), *b = quantize(f, &cur, NULL);
    assert_same_codes(a, b);
    gptq_qlayer_destroy(a);
    gptq_qlayer_destroy(b);
    np.future[1] = 1; /* a feature this library does not have */
    gptq_qlayer *q = (gptq_qlayer *)&q;
    assert_refused_as_newer(gptq_quantize_layer(f->ctx, &np.p, &f->wm, f->h, &q, NULL), f->ctx);
    assert_null(q);

    newer_ctx_params nc;
    memset(&nc, 0, sizeof nc);
    gptq_ctx_params_init(&nc.p);
    nc.p.struct_size = sizeof nc;
    nc.p.backend = GPTQ_BACKEND_CPU;
    gptq_ctx *ctx = NULL;
    assert_int_equal(gptq_ctx_create(&nc.p, &ctx), GPTQ_OK);
    assert_int_equal(gptq_ctx_backend(ctx), GPTQ_BACKEND_CPU);
    gptq_ctx_destroy(ctx);
    nc.future[2] = 0xff;
    assert_refused_as_newer(gptq_ctx_create(&nc.p, &ctx), NULL);
    assert_null(ctx);
}

static void test_newer_header_outputs(void **state) {
    layer_fixture *f = *state;
    gptq_quant_params cur;
    gptq_quant_params_init(&cur);
    newer_report nr;
    memset(&nr, 0, sizeof nr);
    nr.r.struct_size = sizeof nr;
    gptq_qlayer *q = quantize(f, &cur, &nr.r);
    assert_int_equal(nr.r.struct_size, sizeof nr);
    assert_true(nr.r.loss > 0.0 && nr.r.seconds >= 0.0);
    assert_true(nr.future[0] == 0 && nr.future[1] == 0 && nr.future[2] == 0);
    /* Outputs: a newer header's trailing fields are the caller's space, left alone (an
     * optional report never fails the quantization it reports on). */
    nr.future[0] = 5;
    gptq_qlayer *q2 = NULL;
    assert_int_equal(gptq_quantize_layer(f->ctx, &cur, &f->wm, f->h, &q2, &nr.r), GPTQ_OK);
    assert_non_null(q2);
    assert_true(nr.future[0] == 5 && nr.r.struct_size == sizeof nr);
    gptq_qlayer_destroy(q2);

    newer_info ni;
    memset(&ni, 0, sizeof ni);
    ni.i.struct_size = sizeof ni;
    assert_int_equal(gptq_qlayer_get_info(q, &ni.i), GPTQ_OK);
    assert_int_equal(ni.i.n, N);
    assert_int_equal(ni.i.k, K);
    ni.future[2] = 1;
    assert_int_equal(gptq_qlayer_get_info(q, &ni.i), GPTQ_OK);
    assert_true(ni.future[2] == 1 && ni.i.struct_size == sizeof ni);
    gptq_qlayer_destroy(q);
}

static void test_newer_and_old_packed_layer(void **state) {
    layer_fixture *f = *state;
    gptq_quant_params cur;
    gptq_quant_params_init(&cur);
    cur.group_size = 32;
    gptq_qlayer *q = quantize(f, &cur, NULL);
    gptq_qlayer_info info = {.struct_size = sizeof info};
    assert_int_equal(gptq_qlayer_get_info(q, &info), GPTQ_OK);
    int32_t *qw = tc_xmalloc(sizeof(int32_t) * (size_t)(info.qweight_rows * info.qweight_cols));
    int32_t *qz = tc_xmalloc(sizeof(int32_t) * (size_t)(info.qzeros_rows * info.qzeros_cols));
    uint16_t *sc = tc_xmalloc(sizeof(uint16_t) * (size_t)(info.scales_rows * info.scales_cols));
    assert_int_equal(gptq_qlayer_get_qweight(q, qw, (size_t)(info.qweight_rows * info.qweight_cols)), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, qz, (size_t)(info.qzeros_rows * info.qzeros_cols)), GPTQ_OK);
    assert_int_equal(gptq_qlayer_get_scales_f16(q, sc, (size_t)(info.scales_rows * info.scales_cols)), GPTQ_OK);

    v010_packed_layer old; /* 0.1.0: scales declared as const uint16_t * */
    memset(&old, 0, sizeof old);
    old.struct_size = sizeof old;
    old.n = N, old.k = K, old.bits = 4, old.group_size = 32;
    old.zeros_format = GPTQ_ZEROS_V2, old.scales_dtype = GPTQ_DTYPE_F16;
    old.qweight = qw, old.qzeros = qz, old.scales = sc;
    gptq_qlayer *from_old = NULL;
    assert_int_equal(gptq_qlayer_from_packed(f->ctx, (const gptq_packed_layer *)&old, &from_old), GPTQ_OK);
    assert_same_codes(q, from_old);

    newer_packed np;
    memset(&np, 0, sizeof np);
    memcpy(&np.p, &old, sizeof old);
    np.p.struct_size = sizeof np;
    gptq_qlayer *from_new = NULL;
    assert_int_equal(gptq_qlayer_from_packed(f->ctx, &np.p, &from_new), GPTQ_OK);
    assert_same_codes(q, from_new);
    np.future[0] = 9;
    gptq_qlayer *refused = NULL;
    assert_refused_as_newer(gptq_qlayer_from_packed(f->ctx, &np.p, &refused), f->ctx);
    assert_null(refused);
    gptq_qlayer_destroy(from_new);
    gptq_qlayer_destroy(from_old);
    gptq_qlayer_destroy(q);
    free(qw);
    free(qz);
    free(sc);
}

/* One field short of the 0.1.0 layout is no layout at all. */
static void test_smaller_than_0_1_0(void **state) {
    layer_fixture *f = *state;
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.struct_size = (uint32_t)offsetof(v010_quant_params, progress_user);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(f->ctx, &p, &f->wm, f->h, &q, NULL),
                     GPTQ_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(gptq_last_error(f->ctx), "first released layout"));
    gptq_ctx_params cp;
    gptq_ctx_params_init(&cp);
    cp.struct_size = (uint32_t)offsetof(v010_ctx_params, pipeline_cache_size);
    gptq_ctx *ctx = NULL;
    assert_int_equal(gptq_ctx_create(&cp, &ctx), GPTQ_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_built_against_0_1_0),
        cmocka_unit_test(test_newer_header_params),
        cmocka_unit_test(test_newer_header_outputs),
        cmocka_unit_test(test_newer_and_old_packed_layer),
        cmocka_unit_test(test_smaller_than_0_1_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
