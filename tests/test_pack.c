/* Checkpoint layout (docs/gptq-reference.md §5) through the public API: pack/unpack round trips for 2/3/4/8
 * bits via gptq_qlayer_from_packed and the qweight/qzeros/scales/g_idx getters, the 3-bit
 * layout against hand-computed words, v1 vs v2 zeros, act-order g_idx, fp16 scales, padded
 * K, and rejection of out-of-range zeros / g_idx and non-finite scales. Every comparison
 * here is bit-exact: packing involves no arithmetic that could round. */
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

/* A layer in unpacked form plus its naively packed checkpoint tensors. */
typedef struct fixture {
    int64_t n, k, n_groups, qw_rows, qz_cols;
    int bits, group_size;
    int32_t *codes;    /* [n x k] */
    int32_t *zeros;    /* [n_groups x n] */
    uint16_t *scales;  /* [n_groups x n] fp16 */
    float *scales32;   /* the same values in fp32 */
    int32_t *g_idx;    /* [k] */
    int32_t *qweight;  /* [qw_rows x n] (+ slack rows of zeros) */
    int32_t *qzeros_v1, *qzeros_v2; /* [n_groups x qz_cols] */
} fixture;

/* Slack after every packed array, so that a library using a different rounding of the
 * packed length fails a comparison instead of reading out of bounds. */
#define SLACK_WORDS 256

static void fixture_make(fixture *f, tc_rng *r, int64_t n, int64_t k, int bits, int group_size,
                         int act_order) {
    memset(f, 0, sizeof *f);
    const int maxq = (1 << bits) - 1;
    const int64_t gs = group_size < 0 ? k : group_size;
    f->n = n;
    f->k = k;
    f->bits = bits;
    f->group_size = group_size;
    f->n_groups = (k + gs - 1) / gs;
    f->qw_rows = naive_packed_len(k, bits);
    f->qz_cols = naive_packed_len(n, bits);
    f->codes = tc_xmalloc((size_t)(n * k) * sizeof(int32_t));
    f->zeros = tc_xmalloc((size_t)(f->n_groups * n) * sizeof(int32_t));
    f->scales = tc_xmalloc((size_t)(f->n_groups * n) * sizeof(uint16_t));
    f->scales32 = tc_xmalloc((size_t)(f->n_groups * n) * sizeof(float));
    f->g_idx = tc_xmalloc((size_t)k * sizeof(int32_t));
    f->qweight = tc_xcalloc((size_t)(f->qw_rows * n + SLACK_WORDS), sizeof(int32_t));
    f->qzeros_v1 = tc_xcalloc((size_t)(f->n_groups * f->qz_cols + SLACK_WORDS), sizeof(int32_t));
    f->qzeros_v2 = tc_xcalloc((size_t)(f->n_groups * f->qz_cols + SLACK_WORDS), sizeof(int32_t));
    for (int64_t i = 0; i < n * k; ++i) f->codes[i] = tc_rng_int(r, 0, maxq);
    for (int64_t i = 0; i < f->n_groups * n; ++i) {
        f->zeros[i] = tc_rng_int(r, 1, maxq); /* >= 1 so that v1 (zero - 1) can hold it */
        f->scales[i] = tc_f32_to_f16((float)(0.001 + 0.05 * tc_rng_uniform(r)));
        f->scales32[i] = tc_f16_to_f32(f->scales[i]);
    }
    if (act_order && group_size > 0) {
        int32_t *perm = tc_xmalloc((size_t)k * sizeof(int32_t));
        tc_random_perm(r, perm, k);
        for (int64_t i = 0; i < k; ++i) f->g_idx[perm[i]] = (int32_t)(i / gs);
        free(perm);
    } else {
        for (int64_t i = 0; i < k; ++i) f->g_idx[i] = (int32_t)(i / gs);
    }
    naive_pack_qweight(f->codes, n, k, bits, f->qweight);
    naive_pack_qzeros(f->zeros, f->n_groups, n, bits, 1, f->qzeros_v1);
    naive_pack_qzeros(f->zeros, f->n_groups, n, bits, 0, f->qzeros_v2);
}

static void fixture_free(fixture *f) {
    free(f->codes);
    free(f->zeros);
    free(f->scales);
    free(f->scales32);
    free(f->g_idx);
    free(f->qweight);
    free(f->qzeros_v1);
    free(f->qzeros_v2);
}

static gptq_packed_layer packed_of(const fixture *f, gptq_zeros_format fmt) {
    gptq_packed_layer p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n = f->n;
    p.k = f->k;
    p.bits = f->bits;
    p.group_size = f->group_size;
    p.zeros_format = fmt;
    p.qweight = f->qweight;
    p.qzeros = fmt == GPTQ_ZEROS_V1 ? f->qzeros_v1 : f->qzeros_v2;
    p.scales = f->scales;
    p.scales_dtype = GPTQ_DTYPE_F16;
    p.g_idx = f->g_idx;
    return p;
}

static gptq_qlayer *from_packed_ok(gptq_ctx *ctx, const gptq_packed_layer *p) {
    gptq_qlayer *q = NULL;
    const gptq_status st = gptq_qlayer_from_packed(ctx, p, &q);
    if (st != GPTQ_OK) fail_msg("gptq_qlayer_from_packed: %s", gptq_last_error(ctx));
    assert_non_null(q);
    return q;
}

static int count_i32_diff(const char *what, const int32_t *a, const int32_t *b, int64_t len) {
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < len; ++i)
        if (a[i] != b[i] && bad++ == 0) first = i;
    if (bad)
        fprintf(stderr, "%s: %lld of %lld differ, first at %lld (0x%08x vs expected 0x%08x)\n",
                what, (long long)bad, (long long)len, (long long)first, (unsigned)a[first],
                (unsigned)b[first]);
    return bad != 0;
}

/* Everything the getters return equals the fixture, bit for bit. */
static void check_layer_matches(const gptq_qlayer *q, const fixture *f, const char *label) {
    gptq_qlayer_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    assert_int_equal(gptq_qlayer_get_info(q, &info), GPTQ_OK);
    assert_int_equal(info.n, f->n);
    assert_int_equal(info.k, f->k);
    assert_int_equal(info.bits, f->bits);
    assert_int_equal(info.group_size, f->group_size);
    assert_int_equal(info.n_groups, f->n_groups);
    /* "Packed dimensions are rounded up" (docs/gptq-reference.md §5; 3 bits in whole 32-code runs). */
    assert_int_equal(info.qweight_rows, f->qw_rows);
    assert_int_equal(info.qweight_cols, f->n);
    assert_int_equal(info.qzeros_rows, f->n_groups);
    assert_int_equal(info.qzeros_cols, f->qz_cols);
    assert_int_equal(info.scales_rows, f->n_groups);
    assert_int_equal(info.scales_cols, f->n);
    assert_int_equal(info.g_idx_len, f->k);

    const int64_t nk = f->n * f->k, gn = f->n_groups * f->n;
    const int64_t qw = f->qw_rows * f->n, qz = f->n_groups * f->qz_cols;
    int32_t *i32 = tc_xmalloc((size_t)(nk + qw + qz + 16) * sizeof(int32_t));
    float *f32 = tc_xmalloc((size_t)(nk + 16) * sizeof(float));
    float *ref = tc_xmalloc((size_t)(nk + 16) * sizeof(float));
    uint16_t *u16 = tc_xmalloc((size_t)(gn + 16) * sizeof(uint16_t));
    int bad = 0;
    char what[160];
#define WHAT(s) (snprintf(what, sizeof what, "%s %s", label, s), what)
    assert_int_equal(gptq_qlayer_get_codes(q, i32, (size_t)nk), GPTQ_OK);
    bad += count_i32_diff(WHAT("codes"), i32, f->codes, nk);
    assert_int_equal(gptq_qlayer_get_zeros(q, i32, (size_t)gn), GPTQ_OK);
    bad += count_i32_diff(WHAT("zeros"), i32, f->zeros, gn);
    assert_int_equal(gptq_qlayer_get_g_idx(q, i32, (size_t)f->k), GPTQ_OK);
    bad += count_i32_diff(WHAT("g_idx"), i32, f->g_idx, f->k);
    assert_int_equal(gptq_qlayer_get_qweight(q, i32, (size_t)qw), GPTQ_OK);
    bad += count_i32_diff(WHAT("qweight"), i32, f->qweight, qw);
    assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, i32, (size_t)qz), GPTQ_OK);
    bad += count_i32_diff(WHAT("qzeros v2"), i32, f->qzeros_v2, qz);
    assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V1, i32, (size_t)qz), GPTQ_OK);
    bad += count_i32_diff(WHAT("qzeros v1"), i32, f->qzeros_v1, qz);
    assert_int_equal(gptq_qlayer_get_scales(q, f32, (size_t)gn), GPTQ_OK);
    bad += memcmp(f32, f->scales32, (size_t)gn * sizeof(float)) != 0;
    assert_int_equal(gptq_qlayer_get_scales_f16(q, u16, (size_t)gn), GPTQ_OK);
    bad += memcmp(u16, f->scales, (size_t)gn * sizeof(uint16_t)) != 0;
    assert_int_equal(gptq_qlayer_dequantize(q, f32, (size_t)nk), GPTQ_OK);
    naive_dequant(f->codes, f->scales32, f->zeros, f->g_idx, f->n, f->k, ref);
    bad += memcmp(f32, ref, (size_t)nk * sizeof(float)) != 0;
#undef WHAT
    if (bad) fprintf(stderr, "%s: %d mismatching tensors (scales/dequant included)\n", label, bad);
    free(i32);
    free(f32);
    free(ref);
    free(u16);
    assert_int_equal(bad, 0);
}

static void test_roundtrip_all_bits(void **state) {
    (void)state;
    static const struct {
        int64_t n, k;
        int group_size, act_order;
    } shapes[] = {
        {12, 64, 32, 0}, {33, 96, 32, 1}, {8, 172, 64, 0}, {40, 128, -1, 0}, {17, 160, 48, 1},
    };
    static const int bits[] = {2, 3, 4, 8};
    gptq_ctx *ctx = tc_ctx();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (size_t b = 0; b < 4; ++b)
            for (int v = 1; v <= 2; ++v) {
                tc_rng r;
                tc_rng_seed(&r, 100 * s + 10 * b + (size_t)v);
                fixture f;
                fixture_make(&f, &r, shapes[s].n, shapes[s].k, bits[b], shapes[s].group_size,
                             shapes[s].act_order);
                char label[96];
                snprintf(label, sizeof label, "%lldx%lld b%d g%d act%d v%d",
                         (long long)f.n, (long long)f.k, f.bits, f.group_size,
                         shapes[s].act_order, v);
                gptq_packed_layer p = packed_of(&f, (gptq_zeros_format)v);
                gptq_qlayer *q = from_packed_ok(ctx, &p);
                check_layer_matches(q, &f, label);
                gptq_qlayer_destroy(q);

                /* fp32 scales holding the same values give the same layer. */
                p.scales = (const uint16_t *)(const void *)f.scales32;
                p.scales_dtype = GPTQ_DTYPE_F32;
                q = from_packed_ok(ctx, &p);
                check_layer_matches(q, &f, label);
                gptq_qlayer_destroy(q);

                /* g_idx NULL means k / G; only the same as the fixture without act-order. */
                if (!shapes[s].act_order) {
                    p = packed_of(&f, (gptq_zeros_format)v);
                    p.g_idx = NULL;
                    q = from_packed_ok(ctx, &p);
                    check_layer_matches(q, &f, label);
                    gptq_qlayer_destroy(q);
                }
                fixture_free(&f);
            }
    gptq_ctx_destroy(ctx);
}

/* Spec §5 3-bit layout, with the expected words worked out by hand from its text:
 *   codes c0=7, c9=2, c10=5 (0b101), c11=3, c20=4, c21=6 (0b110), c22=1, c31=7, rest 0.
 *   word0: c0 at bits 0-2 (7), c9 at 27-29 (2<<27), low 2 bits of c10 (01) at 30-31
 *          = 0x00000007 | 0x10000000 | 0x40000000 = 0x50000007
 *   word1: bit 2 of c10 (1) at bit 0, c11 at 1-3 (3<<1 = 6), c20 at 28-30 (4<<28),
 *          low bit of c21 (0) at 31            = 0x00000001 | 0x6 | 0x40000000 = 0x40000007
 *   word2: top 2 bits of c21 (11) at 0-1, c22 at 2-4 (1<<2), c31 at 29-31 (7<<29)
 *          = 0x3 | 0x4 | 0xE0000000 = 0xE0000007
 * The second run of 32 codes starts a fresh word triple: c32 = 5 -> word3 = 5. */
static const uint32_t k_words3[4] = {0x50000007u, 0x40000007u, 0xE0000007u, 0x00000005u};

static void pattern3(int32_t *codes) {
    memset(codes, 0, 64 * sizeof(int32_t));
    codes[0] = 7;
    codes[9] = 2;
    codes[10] = 5;
    codes[11] = 3;
    codes[20] = 4;
    codes[21] = 6;
    codes[22] = 1;
    codes[31] = 7;
    codes[32] = 5;
}

static void test_3bit_layout(void **state) {
    (void)state;
    int32_t pattern[64];
    pattern3(pattern);

    /* The naive packer itself agrees with the hand-computed words (K = 64: 6 words). */
    uint32_t words[6];
    naive_pack_seq(pattern, 64, 3, words);
    for (int i = 0; i < 4; ++i) assert_int_equal(words[i], k_words3[i]);
    assert_int_equal(words[4], 0);
    assert_int_equal(words[5], 0);
    for (int i = 0; i < 64; ++i) assert_int_equal(naive_unpack_at(words, i, 3), pattern[i]);

    /* Library, qweight: N = 2 columns, column 0 holds the pattern, column 1 its reverse
     * (so that a row/column mix-up shows). Along K: 64 codes = 6 words per column. */
    gptq_ctx *ctx = tc_ctx();
    fixture f;
    tc_rng r;
    tc_rng_seed(&r, 3);
    fixture_make(&f, &r, 32, 64, 3, 64, 0);
    memset(f.codes, 0, (size_t)(f.n * f.k) * sizeof(int32_t));
    for (int64_t c = 0; c < 64; ++c) {
        f.codes[c] = pattern[c];
        f.codes[64 + c] = pattern[63 - c];
    }
    /* qzeros along N (32 columns = 3 words per group): the pattern's first 32 codes. */
    for (int64_t j = 0; j < 32; ++j) f.zeros[j] = pattern[j];
    naive_pack_qweight(f.codes, f.n, f.k, 3, f.qweight);
    for (int w = 0; w < 4; ++w) assert_int_equal((uint32_t)f.qweight[w * f.n], k_words3[w]);
    for (int w = 0; w < 3; ++w) f.qzeros_v2[w] = (int32_t)k_words3[w];

    gptq_packed_layer p = packed_of(&f, GPTQ_ZEROS_V2);
    gptq_qlayer *q = from_packed_ok(ctx, &p);
    int32_t codes[32 * 64], zeros[32], qw[6 * 32], qz[3];
    assert_int_equal(gptq_qlayer_get_codes(q, codes, 32 * 64), GPTQ_OK);
    for (int c = 0; c < 64; ++c) {
        assert_int_equal(codes[c], pattern[c]);
        assert_int_equal(codes[64 + c], pattern[63 - c]);
    }
    assert_int_equal(gptq_qlayer_get_zeros(q, zeros, 32), GPTQ_OK);
    for (int j = 0; j < 32; ++j) assert_int_equal(zeros[j], pattern[j]);
    assert_int_equal(gptq_qlayer_get_qweight(q, qw, 6 * 32), GPTQ_OK);
    for (int w = 0; w < 4; ++w) assert_int_equal((uint32_t)qw[w * 32], k_words3[w]);
    assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, qz, 3), GPTQ_OK);
    for (int w = 0; w < 3; ++w) assert_int_equal((uint32_t)qz[w], k_words3[w]);
    gptq_qlayer_destroy(q);
    fixture_free(&f);
    gptq_ctx_destroy(ctx);
}

/* v1 stores zero - 1. Hand-made 4-bit example: zeros 1, 2, ..., 8 of one group (N = 8)
 * give v1 nibbles 0..7 = 0x76543210 and v2 nibbles 1..8 = 0x87654321. */
static void test_zeros_v1_v2(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 5);
    fixture f;
    fixture_make(&f, &r, 8, 32, 4, -1, 0);
    for (int j = 0; j < 8; ++j) f.zeros[j] = j + 1;
    f.qzeros_v1[0] = 0x76543210;
    f.qzeros_v2[0] = (int32_t)0x87654321u;
    for (int v = 1; v <= 2; ++v) {
        gptq_packed_layer p = packed_of(&f, (gptq_zeros_format)v);
        gptq_qlayer *q = from_packed_ok(ctx, &p);
        check_layer_matches(q, &f, v == 1 ? "hand v1" : "hand v2");
        gptq_qlayer_destroy(q);
    }
    fixture_free(&f);
    gptq_ctx_destroy(ctx);
}

/* K = 172 with 4 bits: 22 qweight rows, the last holding 4 real codes and 4 zero codes;
 * with 3 bits 6 runs of 32 codes = 18 rows, the last run padded with 20 zero codes. Layers come from RTN so the library packs them. */
static void test_padded_k(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    static const int bits[] = {4, 3, 2, 8};
    for (int b = 0; b < 4; ++b) {
        const int64_t n = 16, k = 172;
        tc_rng r;
        tc_rng_seed(&r, 7 + (uint64_t)b);
        float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
        for (int64_t i = 0; i < n * k; ++i) w[i] = (float)tc_rng_normal(&r);
        gptq_quant_params p;
        gptq_quant_params_init(&p);
        p.bits = bits[b];
        p.group_size = 32;
        gptq_matrix wm = tc_matrix_f32(w, n, k, 0);
        gptq_qlayer *q = NULL;
        assert_int_equal(gptq_quantize_rtn(ctx, &p, &wm, &q), GPTQ_OK);
        gptq_qlayer_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        assert_int_equal(gptq_qlayer_get_info(q, &info), GPTQ_OK);
        const int64_t rows = naive_packed_len(k, bits[b]);
        if (bits[b] == 4) assert_int_equal(rows, 22);
        if (bits[b] == 3) assert_int_equal(rows, 18);
        assert_int_equal(info.qweight_rows, rows);
        assert_int_equal(info.n_groups, 6);
        int32_t *codes = tc_xmalloc((size_t)(n * k) * sizeof(int32_t));
        int32_t *qw = tc_xmalloc((size_t)(rows * n) * sizeof(int32_t));
        int32_t *want = tc_xmalloc((size_t)(rows * n) * sizeof(int32_t));
        assert_int_equal(gptq_qlayer_get_codes(q, codes, (size_t)(n * k)), GPTQ_OK);
        assert_int_equal(gptq_qlayer_get_qweight(q, qw, (size_t)(rows * n)), GPTQ_OK);
        naive_pack_qweight(codes, n, k, bits[b], want);
        assert_int_equal(count_i32_diff("padded qweight", qw, want, rows * n), 0);
        if (bits[b] == 4) /* codes 172..175 of every column are the zero padding */
            for (int64_t j = 0; j < n; ++j) assert_int_equal((uint32_t)qw[21 * n + j] >> 16, 0);
        gptq_qlayer_destroy(q);
        free(w);
        free(codes);
        free(qw);
        free(want);
    }
    gptq_ctx_destroy(ctx);
}

/* Layers the library quantized with GPTQ: packed tensors agree with the unpacked views,
 * scales_f16 is the round-to-nearest-even of the fp32 scales, and packing then loading
 * gives back the same layer (dequantized with the fp16 scales). */
static void test_quantized_layers(void **state) {
    (void)state;
    static const struct {
        int bits, group_size, sym, act_order, static_groups;
    } cfg[] = {{4, 32, 0, 1, 0}, {3, 32, 1, 1, 1}, {2, -1, 0, 0, 0}, {8, 48, 1, 1, 0}};
    const int64_t n = 24, k = 96;
    gptq_ctx *ctx = tc_ctx();
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; ++i) {
        tc_rng r;
        tc_rng_seed(&r, 50 + i);
        float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
        float *x = tc_xmalloc((size_t)(3 * k * k) * sizeof(float));
        for (int64_t j = 0; j < n * k; ++j) w[j] = (float)(0.02 * tc_rng_normal(&r));
        /* Channels of very different energy so that act-order really permutes. */
        for (int64_t t = 0; t < 3 * k; ++t)
            for (int64_t c = 0; c < k; ++c)
                x[t * k + c] = (float)(tc_rng_normal(&r) * (1.0 + (double)((c * 37) % k) / 8.0));
        gptq_hessian *h = NULL;
        assert_int_equal(gptq_hessian_create(ctx, k, &h), GPTQ_OK);
        gptq_matrix xm = tc_matrix_f32(x, 3 * k, k, 0);
        assert_int_equal(gptq_hessian_add(h, &xm), GPTQ_OK);
        gptq_quant_params p;
        gptq_quant_params_init(&p);
        p.bits = cfg[i].bits;
        p.group_size = cfg[i].group_size;
        p.sym = cfg[i].sym;
        p.desc_act = cfg[i].act_order;
        p.static_groups = cfg[i].static_groups;
        gptq_matrix wm = tc_matrix_f32(w, n, k, 0);
        gptq_qlayer *q = NULL;
        assert_int_equal(gptq_quantize_layer(ctx, &p, &wm, h, &q, NULL), GPTQ_OK);

        tq_result got;
        assert_int_equal(tq_fetch(q, &got), 0);
        fixture f;
        memset(&f, 0, sizeof f);
        f.n = n;
        f.k = k;
        f.bits = cfg[i].bits;
        f.group_size = cfg[i].group_size;
        f.n_groups = got.n_groups;
        f.qw_rows = naive_packed_len(k, f.bits);
        f.qz_cols = naive_packed_len(n, f.bits);
        f.codes = got.codes;
        f.zeros = got.zeros;
        f.g_idx = got.g_idx;
        f.scales = tc_xmalloc((size_t)(f.n_groups * n) * sizeof(uint16_t));
        f.scales32 = tc_xmalloc((size_t)(f.n_groups * n) * sizeof(float));
        for (int64_t j = 0; j < f.n_groups * n; ++j) {
            f.scales[j] = tc_f32_to_f16(got.scales[j]);
            f.scales32[j] = tc_f16_to_f32(f.scales[j]);
        }
        f.qweight = tc_xcalloc((size_t)(f.qw_rows * n + SLACK_WORDS), sizeof(int32_t));
        f.qzeros_v1 = tc_xcalloc((size_t)(f.n_groups * f.qz_cols + SLACK_WORDS), sizeof(int32_t));
        f.qzeros_v2 = tc_xcalloc((size_t)(f.n_groups * f.qz_cols + SLACK_WORDS), sizeof(int32_t));
        naive_pack_qweight(f.codes, n, k, f.bits, f.qweight);
        naive_pack_qzeros(f.zeros, f.n_groups, n, f.bits, 1, f.qzeros_v1);
        naive_pack_qzeros(f.zeros, f.n_groups, n, f.bits, 0, f.qzeros_v2);

        /* The library's own packed tensors (v1 only where every zero is >= 1). */
        const int64_t qw = f.qw_rows * n, qz = f.n_groups * f.qz_cols, gn = f.n_groups * n;
        int32_t *buf = tc_xmalloc((size_t)(qw + qz) * sizeof(int32_t));
        uint16_t *s16 = tc_xmalloc((size_t)gn * sizeof(uint16_t));
        assert_int_equal(gptq_qlayer_get_qweight(q, buf, (size_t)qw), GPTQ_OK);
        assert_int_equal(count_i32_diff("qweight", buf, f.qweight, qw), 0);
        assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, buf, (size_t)qz), GPTQ_OK);
        assert_int_equal(count_i32_diff("qzeros v2", buf, f.qzeros_v2, qz), 0);
        int min_zero = 1 << 30;
        for (int64_t j = 0; j < gn; ++j) min_zero = f.zeros[j] < min_zero ? f.zeros[j] : min_zero;
        if (min_zero >= 1) {
            assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V1, buf, (size_t)qz), GPTQ_OK);
            assert_int_equal(count_i32_diff("qzeros v1", buf, f.qzeros_v1, qz), 0);
        }
        assert_int_equal(gptq_qlayer_get_scales_f16(q, s16, (size_t)gn), GPTQ_OK);
        assert_memory_equal(s16, f.scales, (size_t)gn * sizeof(uint16_t));
        /* g_idx of act-order with dynamic groups is non-monotonic and follows perm. */
        if (cfg[i].act_order && !cfg[i].static_groups && cfg[i].group_size > 0) {
            int monotonic = 1;
            for (int64_t c = 0; c + 1 < k; ++c) monotonic &= got.g_idx[c] <= got.g_idx[c + 1];
            assert_false(monotonic);
            for (int64_t c = 0; c < k; ++c)
                assert_int_equal(got.g_idx[got.perm[c]], c / cfg[i].group_size);
        }

        gptq_packed_layer pk = packed_of(&f, GPTQ_ZEROS_V2);
        gptq_qlayer *q2 = from_packed_ok(ctx, &pk);
        check_layer_matches(q2, &f, "reloaded GPTQ layer");
        gptq_qlayer_destroy(q2);

        free(buf);
        free(s16);
        free(f.scales);
        free(f.scales32);
        free(f.qweight);
        free(f.qzeros_v1);
        free(f.qzeros_v2);
        tq_result_free(&got);
        gptq_qlayer_destroy(q);
        gptq_hessian_destroy(h);
        free(w);
        free(x);
    }
    gptq_ctx_destroy(ctx);
}

static void expect_rejected(gptq_ctx *ctx, const gptq_packed_layer *p, const char *why) {
    gptq_qlayer *q = (gptq_qlayer *)(uintptr_t)1; /* must be overwritten with NULL */
    const gptq_status st = gptq_qlayer_from_packed(ctx, p, &q);
    if (st == GPTQ_OK) {
        gptq_qlayer_destroy(q);
        fail_msg("from_packed accepted %s", why);
    }
    assert_null(q);
    assert_true(strlen(gptq_last_error(ctx)) > 0);
    fprintf(stderr, "rejected %s: %s (%s)\n", why, gptq_status_string(st), gptq_last_error(ctx));
}

static void test_from_packed_rejects(void **state) {
    (void)state;
    gptq_ctx *ctx = tc_ctx();
    tc_rng r;
    tc_rng_seed(&r, 9);
    fixture f;
    fixture_make(&f, &r, 16, 64, 4, 32, 1);
    gptq_packed_layer p = packed_of(&f, GPTQ_ZEROS_V2);
    gptq_qlayer *q = from_packed_ok(ctx, &p);
    gptq_qlayer_destroy(q);

    /* v1 stores zero - 1, so a stored 15 means a true zero of 16, outside 0..15. Two
     * answers are acceptable: reject it, or do what v1 readers (AutoGPTQ, vLLM) compute,
     * i.e. keep 16 so that dequantization is scale * (q - 16) and the v1 words round-trip. */
    int32_t saved = f.qzeros_v1[0];
    f.qzeros_v1[0] |= 0xF;
    p = packed_of(&f, GPTQ_ZEROS_V1);
    q = NULL;
    if (gptq_qlayer_from_packed(ctx, &p, &q) != GPTQ_OK) {
        assert_null(q);
        assert_true(strlen(gptq_last_error(ctx)) > 0);
        fprintf(stderr, "v1 zero of 2^bits rejected: %s\n", gptq_last_error(ctx));
    } else {
        fprintf(stderr, "v1 zero of 2^bits kept as 16 (v1 reader semantics)\n");
        int32_t zeros[16 * 2], qz[2 * 2], codes[16 * 64];
        float deq[16 * 64];
        assert_int_equal(gptq_qlayer_get_zeros(q, zeros, 32), GPTQ_OK);
        assert_int_equal(zeros[0], 16);
        assert_int_equal(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V1, qz, 4), GPTQ_OK);
        assert_int_equal(qz[0], f.qzeros_v1[0]);
        assert_int_equal(gptq_qlayer_get_codes(q, codes, 16 * 64), GPTQ_OK);
        assert_int_equal(gptq_qlayer_dequantize(q, deq, 16 * 64), GPTQ_OK);
        for (int k = 0; k < 64; ++k)
            if (f.g_idx[k] == 0)
                assert_true(deq[k] == f.scales32[0] * (float)(codes[k] - 16));
        gptq_qlayer_destroy(q);
    }
    f.qzeros_v1[0] = saved;

    p = packed_of(&f, GPTQ_ZEROS_V2);
    saved = f.g_idx[5];
    f.g_idx[5] = (int32_t)f.n_groups;
    expect_rejected(ctx, &p, "g_idx == n_groups");
    f.g_idx[5] = -1;
    expect_rejected(ctx, &p, "g_idx == -1");
    f.g_idx[5] = saved;

    static const uint16_t bad_f16[] = {0x7c00u, 0xfc00u, 0x7e00u};
    for (int i = 0; i < 3; ++i) {
        const uint16_t keep = f.scales[7];
        f.scales[7] = bad_f16[i];
        expect_rejected(ctx, &p, i == 2 ? "a NaN fp16 scale" : "an infinite fp16 scale");
        f.scales[7] = keep;
    }
    const float keep = f.scales32[3];
    p.scales = (const uint16_t *)(const void *)f.scales32;
    p.scales_dtype = GPTQ_DTYPE_F32;
    f.scales32[3] = NAN;
    expect_rejected(ctx, &p, "a NaN fp32 scale");
    f.scales32[3] = INFINITY;
    expect_rejected(ctx, &p, "an infinite fp32 scale");
    f.scales32[3] = keep;
    q = from_packed_ok(ctx, &p); /* and the repaired layer loads again */
    gptq_qlayer_destroy(q);
    fixture_free(&f);
    gptq_ctx_destroy(ctx);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_bits), cmocka_unit_test(test_3bit_layout),
        cmocka_unit_test(test_zeros_v1_v2),        cmocka_unit_test(test_padded_k),
        cmocka_unit_test(test_quantized_layers),   cmocka_unit_test(test_from_packed_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
