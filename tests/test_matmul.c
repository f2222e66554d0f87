/* gptq_matmul_q4 / gptq_matmul_q against dequantize-then-GEMM in double.
 *
 * Tolerance: |y - y_ref| <= 2 (K + 2) u sum_k |x_k w_nk|, u = 2^-24 (fp32 unit roundoff).
 * y_ref is exact up to double rounding for the fp32 weights w = fl(scale (q - z)) that the
 * spec's dequantization defines. Any fp32 evaluation order of the K-term dot product
 * (sequential, blocked, tree, FMA) is within gamma_K = K u / (1 - K u) of it; a kernel that
 * factors the scale out of each group (s * sum x (q - z)) adds at most two more roundings
 * per term (the product and the scale). That gives (K + 2) u; the factor 2 covers the
 * 1 / (1 - K u) and leaves room for a two-level (per-group, then total) summation. An
 * fp16 intermediate anywhere (2^-11) would break this bound, as it should. */
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


typedef gptq_status (*matmul_fn)(gptq_ctx *, const gptq_qlayer *, const gptq_matrix *, float *,
                                 int64_t);

/* A random layer built through from_packed (fp16 scales: exact in fp32, so every backend
 * sees the same weights), with act-order g_idx if asked. w gets its dequantized fp32
 * weights [n x k]. */
static gptq_qlayer *random_layer(gptq_ctx *ctx, tc_rng *r, int64_t n, int64_t k, int bits,
                                 int group_size, int act_order, float *w) {
    const int maxq = (1 << bits) - 1;
    const int64_t gs = group_size < 0 ? k : group_size, ng = (k + gs - 1) / gs;
    int32_t *codes = tc_xmalloc((size_t)(n * k) * sizeof(int32_t));
    int32_t *zeros = tc_xmalloc((size_t)(ng * n) * sizeof(int32_t));
    uint16_t *s16 = tc_xmalloc((size_t)(ng * n) * sizeof(uint16_t));
    float *s32 = tc_xmalloc((size_t)(ng * n) * sizeof(float));
    int32_t *g_idx = tc_xmalloc((size_t)k * sizeof(int32_t));
    int32_t *qweight = tc_xcalloc((size_t)(naive_packed_len(k, bits) * n), sizeof(int32_t));
    int32_t *qzeros = tc_xcalloc((size_t)(ng * naive_packed_len(n, bits)), sizeof(int32_t));
    for (int64_t i = 0; i < n * k; ++i) codes[i] = tc_rng_int(r, 0, maxq);
    for (int64_t i = 0; i < ng * n; ++i) {
        zeros[i] = tc_rng_int(r, 0, maxq);
        s16[i] = tc_f32_to_f16((float)(0.002 + 0.03 * tc_rng_uniform(r)));
        s32[i] = tc_f16_to_f32(s16[i]);
    }
    if (act_order) {
        int32_t *perm = tc_xmalloc((size_t)k * sizeof(int32_t));
        tc_random_perm(r, perm, k);
        for (int64_t i = 0; i < k; ++i) g_idx[perm[i]] = (int32_t)(i / gs);
        free(perm);
    } else {
        for (int64_t i = 0; i < k; ++i) g_idx[i] = (int32_t)(i / gs);
    }
    naive_pack_qweight(codes, n, k, bits, qweight);
    naive_pack_qzeros(zeros, ng, n, bits, 0, qzeros);
    naive_dequant(codes, s32, zeros, g_idx, n, k, w);

    gptq_packed_layer p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n = n;
    p.k = k;
    p.bits = bits;
    p.group_size = group_size;
    p.desc_act = act_order;
    p.zeros_format = GPTQ_ZEROS_V2;
    p.qweight = qweight;
    p.qzeros = qzeros;
    p.scales = s16;
    p.scales_dtype = GPTQ_DTYPE_F16;
    p.g_idx = g_idx;
    gptq_qlayer *q = NULL;
    if (gptq_qlayer_from_packed(ctx, &p, &q) != GPTQ_OK)
        fail_msg("from_packed: %s", gptq_last_error(ctx));
    free(codes);
    free(zeros);
    free(s16);
    free(s32);
    free(g_idx);
    free(qweight);
    free(qzeros);
    return q;
}

/* Runs one product and checks it. X is generated in `dtype` with row stride ldx; the
 * reference uses exactly the values the library was given. */
static int check_product(gptq_ctx *ctx, matmul_fn fn, const gptq_qlayer *q, const float *w,
                         int64_t n, int64_t k, int64_t m, gptq_dtype dtype, int64_t ldx,
                         int64_t ldy, tc_rng *r, const char *label) {
    const int64_t ldx_eff = ldx ? ldx : k, ldy_eff = ldy ? ldy : n;
    float *xf = tc_xmalloc((size_t)(m * ldx_eff) * sizeof(float));
    uint16_t *xh = tc_xmalloc((size_t)(m * ldx_eff) * sizeof(uint16_t));
    for (int64_t i = 0; i < m * ldx_eff; ++i) {
        float v = (float)tc_rng_normal(r);
        if (i % ldx_eff >= k) v = NAN; /* padding between rows must never be read */
        if (dtype == GPTQ_DTYPE_F16) {
            xh[i] = tc_f32_to_f16(v);
            v = tc_f16_to_f32(xh[i]);
        } else if (dtype == GPTQ_DTYPE_BF16) {
            xh[i] = tc_f32_to_bf16(v);
            v = tc_bf16_to_f32(xh[i]);
        }
        xf[i] = v;
    }
    gptq_matrix x;
    x.data = dtype == GPTQ_DTYPE_F32 ? (const void *)xf : (const void *)xh;
    x.dtype = dtype;
    x.rows = m;
    x.cols = k;
    x.row_stride = ldx;
    float *y = tc_xmalloc((size_t)(m * ldy_eff) * sizeof(float));
    for (int64_t i = 0; i < m * ldy_eff; ++i) y[i] = TQ_Y_SENTINEL;
    double *yr = tc_xmalloc((size_t)(m * n) * sizeof(double));
    double *ab = tc_xmalloc((size_t)(m * n) * sizeof(double));
    naive_matmul(xf, m, k, ldx_eff, w, n, yr, ab);

    int bad = 0;
    const gptq_status st = fn(ctx, q, &x, y, ldy);
    if (st != GPTQ_OK) {
        fprintf(stderr, "[%s] matmul failed: %s\n", label, gptq_last_error(ctx));
        bad = 1;
    }
    double worst = 0;
    if (!bad) bad = tq_check_product(label, y, m, n, ldy_eff, k, yr, ab, &worst);
    if (bad) fprintf(stderr, "[%s] FAILED\n", label);
    else if (worst > 0.5) fprintf(stderr, "[%s] note: error reached %.2f of the bound\n", label, worst);
    free(xf);
    free(xh);
    free(y);
    free(yr);
    free(ab);
    return bad != 0;
}

static const int64_t k_ms[] = {1, 3, 8, 64, 300};

/* Every bit width, every M, both entry points; plain and act-order layers. */
static void test_bits_and_m(void **state) {
    (void)state;
    static const struct {
        int64_t n, k;
        int group_size, act_order;
    } shapes[] = {{48, 160, 32, 0}, {33, 172, 64, 1}, {64, 256, -1, 0}, {40, 128, 128, 1}};
    static const int bits[] = {2, 3, 4, 8};
    gptq_ctx *ctx = tc_ctx();
    int failures = 0;
    for (size_t s = 0; s < 4; ++s)
        for (size_t b = 0; b < 4; ++b) {
            tc_rng r;
            tc_rng_seed(&r, 10 * s + b);
            const int64_t n = shapes[s].n, k = shapes[s].k;
            float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
            gptq_qlayer *q = random_layer(ctx, &r, n, k, bits[b], shapes[s].group_size,
                                          shapes[s].act_order, w);
            for (size_t mi = 0; mi < 5; ++mi)
                for (int which = 0; which < 2; ++which) {
                    char label[128];
                    snprintf(label, sizeof label, "%s %lldx%lld b%d g%d act%d M=%lld",
                             which ? "matmul_q" : "matmul_q4", (long long)n, (long long)k,
                             bits[b], shapes[s].group_size, shapes[s].act_order,
                             (long long)k_ms[mi]);
                    failures += check_product(ctx, which ? gptq_matmul_q : gptq_matmul_q4, q, w,
                                              n, k, k_ms[mi], GPTQ_DTYPE_F32, 0, 0, &r, label);
                }
            gptq_qlayer_destroy(q);
            free(w);
        }
    gptq_ctx_destroy(ctx);
    assert_int_equal(failures, 0);
}

/* F32 / F16 / BF16 activations, with and without a padded row stride and ldy. */
static void test_dtypes_and_strides(void **state) {
    (void)state;
    static const gptq_dtype dtypes[] = {GPTQ_DTYPE_F32, GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16};
    static const char *names[] = {"F32", "F16", "BF16"};
    const int64_t n = 40, k = 192;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 77);
    float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
    gptq_qlayer *q = random_layer(ctx, &r, n, k, 4, 64, 1, w);
    int failures = 0;
    for (int d = 0; d < 3; ++d)
        for (size_t mi = 0; mi < 5; ++mi)
            for (int strided = 0; strided < 2; ++strided) {
                char label[96];
                snprintf(label, sizeof label, "%s M=%lld %s", names[d], (long long)k_ms[mi],
                         strided ? "ldx=K+7 ldy=N+3" : "dense");
                failures += check_product(ctx, gptq_matmul_q4, q, w, n, k, k_ms[mi], dtypes[d],
                                          strided ? k + 7 : 0, strided ? n + 3 : 0, &r, label);
            }
    gptq_qlayer_destroy(q);
    free(w);
    gptq_ctx_destroy(ctx);
    assert_int_equal(failures, 0);
}

/* A layer straight out of GPTQ (fp32 scales, act-order): the product uses dequantize()'s
 * weights. */
static void test_quantized_layer(void **state) {
    (void)state;
    const int64_t n = 32, k = 128;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 99);
    float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
    float *x = tc_xmalloc((size_t)(2 * k * k) * sizeof(float));
    for (int64_t i = 0; i < n * k; ++i) w[i] = (float)(0.02 * tc_rng_normal(&r));
    for (int64_t i = 0; i < 2 * k * k; ++i)
        x[i] = (float)(tc_rng_normal(&r) * (1.0 + (double)(i % k) / 16.0));
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, k, &h), GPTQ_OK);
    gptq_matrix xm = tc_matrix_f32(x, 2 * k, k, 0);
    assert_int_equal(gptq_hessian_add(h, &xm), GPTQ_OK);
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.group_size = 32;
    p.desc_act = 1;
    gptq_matrix wm = tc_matrix_f32(w, n, k, 0);
    gptq_qlayer *q = NULL;
    assert_int_equal(gptq_quantize_layer(ctx, &p, &wm, h, &q, NULL), GPTQ_OK);
    assert_int_equal(gptq_qlayer_dequantize(q, w, (size_t)(n * k)), GPTQ_OK);
    int failures = 0;
    for (size_t mi = 0; mi < 5; ++mi)
        failures += check_product(ctx, gptq_matmul_q4, q, w, n, k, k_ms[mi], GPTQ_DTYPE_F32, 0,
                                  0, &r, "GPTQ layer");
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    free(w);
    free(x);
    gptq_ctx_destroy(ctx);
    assert_int_equal(failures, 0);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bits_and_m),
        cmocka_unit_test(test_dtypes_and_strides),
        cmocka_unit_test(test_quantized_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
