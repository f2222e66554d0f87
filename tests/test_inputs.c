/* Input handling through the public API: Hessian accumulation against a double-precision
 * naive sum for F32/F16/BF16 activations with row strides and uneven batches; set/get
 * round trip; and W given as F16/BF16/strided F32 quantizing exactly like its fp32 copy
 * (docs/gptq-reference.md §2.1: the layer starts from an fp32 copy of W, so the input format must not
 * matter once the values are the same). */
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

#define UNIT_ROUNDOFF (1.0 / 16777216.0) /* 2^-24 */

/* Values of x (t x k) in `dtype`, stored with row stride ld; xf gets the exact fp32 values. */
static void *encode(const float *x, int64_t t, int64_t k, int64_t ld, gptq_dtype dtype,
                    float *xf) {
    const size_t esz = dtype == GPTQ_DTYPE_F32 ? 4 : 2;
    unsigned char *buf = tc_xcalloc((size_t)(t * ld), esz);
    for (int64_t r = 0; r < t; ++r)
        for (int64_t c = 0; c < k; ++c) {
            float v = x[r * k + c];
            if (dtype == GPTQ_DTYPE_F32) {
                memcpy(buf + (size_t)(r * ld + c) * 4, &v, 4);
            } else {
                const uint16_t h = dtype == GPTQ_DTYPE_F16 ? tc_f32_to_f16(v) : tc_f32_to_bf16(v);
                v = dtype == GPTQ_DTYPE_F16 ? tc_f16_to_f32(h) : tc_bf16_to_f32(h);
                memcpy(buf + (size_t)(r * ld + c) * 2, &h, 2);
            }
            xf[r * k + c] = v;
        }
    return buf;
}

/* H = (2/n) sum x x^T accumulated in fp32 over n tokens is within gamma_n of the exact sum
 * of |x_a x_b| terms (any summation order, blocked or not); 2 (n + 2) u leaves a factor 2
 * for the final scaling and a two-level (per batch, then total) accumulation. */
static void test_accumulation_vs_double(void **state) {
    (void)state;
    static const gptq_dtype dtypes[] = {GPTQ_DTYPE_F32, GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16};
    static const int64_t batches[] = {1, 17, 64, 3, 200, 31};
    const int64_t k = 40;
    gptq_ctx *ctx = tc_ctx();
    for (int d = 0; d < 3; ++d) {
        tc_rng r;
        tc_rng_seed(&r, 500 + (uint64_t)d);
        gptq_hessian *h = NULL;
        assert_int_equal(gptq_hessian_create(ctx, k, &h), GPTQ_OK);
        double *sum = tc_xcalloc((size_t)(k * k), sizeof(double));
        double *abs_sum = tc_xcalloc((size_t)(k * k), sizeof(double));
        int64_t n = 0;
        for (int b = 0; b < 6; ++b) {
            const int64_t t = batches[b], ld = (b % 2) ? k + 3 : k;
            float *x = tc_xmalloc((size_t)(t * k) * sizeof(float));
            float *xf = tc_xmalloc((size_t)(t * k) * sizeof(float));
            for (int64_t i = 0; i < t * k; ++i)
                x[i] = (float)(tc_rng_normal(&r) * (1.0 + (double)(i % k)));
            void *enc = encode(x, t, k, ld, dtypes[d], xf);
            gptq_matrix m;
            m.data = enc;
            m.dtype = dtypes[d];
            m.rows = t;
            m.cols = k;
            m.row_stride = (b % 2) ? ld : 0;
            assert_int_equal(gptq_hessian_add(h, &m), GPTQ_OK);
            for (int64_t s = 0; s < t; ++s)
                for (int64_t a = 0; a < k; ++a)
                    for (int64_t c = 0; c < k; ++c) {
                        const double p = (double)xf[s * k + a] * xf[s * k + c];
                        sum[a * k + c] += p;
                        abs_sum[a * k + c] += fabs(p);
                    }
            n += t;
            free(x);
            free(xf);
            free(enc);
        }
        assert_int_equal(gptq_hessian_tokens(h), n);
        float *got = tc_xmalloc((size_t)(k * k) * sizeof(float));
        assert_int_equal(gptq_hessian_get(h, got, (size_t)(k * k)), GPTQ_OK);
        int bad = 0;
        for (int64_t i = 0; i < k * k; ++i) {
            const double want = 2.0 * sum[i] / (double)n;
            const double tol = 2.0 * (double)(n + 2) * UNIT_ROUNDOFF * 2.0 * abs_sum[i] / (double)n;
            if (!(fabs(got[i] - want) <= tol) && bad++ < 5)
                fprintf(stderr, "dtype %d: H[%lld] = %.9g, expected %.9g (tol %.3g)\n", d,
                        (long long)i, got[i], want, tol);
        }
        assert_int_equal(bad, 0);
        free(got);
        free(sum);
        free(abs_sum);
        gptq_hessian_destroy(h);
    }
    gptq_ctx_destroy(ctx);
}

static void test_set_get_roundtrip(void **state) {
    (void)state;
    const int64_t k = 24;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 4);
    float *hm = tc_xmalloc((size_t)(k * k) * sizeof(float));
    float *got = tc_xmalloc((size_t)(k * k) * sizeof(float));
    for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b <= a; ++b)
            hm[a * k + b] = hm[b * k + a] = (float)(a == b ? 3.0 + tc_rng_uniform(&r)
                                                            : 0.1 * tc_rng_normal(&r));
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, k, &h), GPTQ_OK);
    assert_int_equal(gptq_hessian_dim(h), k);
    assert_int_equal(gptq_hessian_set(h, hm, k, 1234), GPTQ_OK);
    assert_int_equal(gptq_hessian_tokens(h), 1234);
    assert_int_equal(gptq_hessian_get(h, got, (size_t)(k * k)), GPTQ_OK);
    assert_memory_equal(got, hm, (size_t)(k * k) * sizeof(float));
    free(hm);
    free(got);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

/* Quantizes w given as `m` and returns everything the layer exposes. */
static void quantize_as(gptq_ctx *ctx, const gptq_quant_params *p, const gptq_matrix *m,
                        const gptq_hessian *h, int rtn, tq_result *out) {
    gptq_qlayer *q = NULL;
    const gptq_status st =
        rtn ? gptq_quantize_rtn(ctx, p, m, &q) : gptq_quantize_layer(ctx, p, m, h, &q, NULL);
    if (st != GPTQ_OK) fail_msg("quantize: %s", gptq_last_error(ctx));
    assert_int_equal(tq_fetch(q, out), 0);
    gptq_qlayer_destroy(q);
}

static void assert_same(const tq_result *a, const tq_result *b, const char *what) {
    const size_t nk = (size_t)(a->n * a->k), gn = (size_t)(a->n_groups * a->n);
    if (memcmp(a->codes, b->codes, nk * 4) || memcmp(a->q, b->q, nk * 4) ||
        memcmp(a->scales, b->scales, gn * 4) || memcmp(a->zeros, b->zeros, gn * 4) ||
        memcmp(a->g_idx, b->g_idx, (size_t)a->k * 4) || memcmp(a->perm, b->perm, (size_t)a->k * 4))
        fail_msg("%s: result differs from the fp32 input's", what);
}

static void test_weight_dtypes(void **state) {
    (void)state;
    static const gptq_dtype dtypes[] = {GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16, GPTQ_DTYPE_F32};
    static const char *names[] = {"F16 W", "BF16 W", "strided F32 W"};
    const int64_t n = 20, k = 72;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 8);
    float *x = tc_xmalloc((size_t)(4 * k * k) * sizeof(float));
    for (int64_t i = 0; i < 4 * k * k; ++i) x[i] = (float)(tc_rng_normal(&r) * (1.0 + (double)(i % k) / 9.0));
    gptq_hessian *h = NULL;
    assert_int_equal(gptq_hessian_create(ctx, k, &h), GPTQ_OK);
    gptq_matrix xm = tc_matrix_f32(x, 4 * k, k, 0);
    assert_int_equal(gptq_hessian_add(h, &xm), GPTQ_OK);
    float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
    float *wf = tc_xmalloc((size_t)(n * k) * sizeof(float));
    for (int64_t i = 0; i < n * k; ++i) w[i] = (float)(0.02 * tc_rng_normal(&r));
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.bits = 3;
    p.group_size = 24;
    p.desc_act = 1;
    for (int d = 0; d < 3; ++d)
        for (int rtn = 0; rtn < 2; ++rtn) {
            const int64_t ld = d == 2 ? k + 5 : k;
            void *enc = encode(w, n, k, ld, dtypes[d], wf);
            gptq_matrix m;
            m.data = enc;
            m.dtype = dtypes[d];
            m.rows = n;
            m.cols = k;
            m.row_stride = d == 2 ? ld : 0;
            gptq_matrix mf = tc_matrix_f32(wf, n, k, 0);
            tq_result a, b;
            quantize_as(ctx, &p, &m, h, rtn, &a);
            quantize_as(ctx, &p, &mf, h, rtn, &b);
            assert_same(&a, &b, names[d]);
            tq_result_free(&a);
            tq_result_free(&b);
            free(enc);
        }
    free(x);
    free(w);
    free(wf);
    gptq_hessian_destroy(h);
    gptq_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accumulation_vs_double),
        cmocka_unit_test(test_set_get_roundtrip),
        cmocka_unit_test(test_weight_dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
