/* The 25 reference vectors of ../shared/vectors against the library (through the public
 * API) and against the tests' own naive GPTQ, with exactly the tolerances of
 * docs/reference-vectors.md §6, plus Hessian accumulation from X_calib (cases 007 F32, 008 F16).
 * Usage: test_vectors <backend> <vectors dir>. A missing directory is a failure. */
#include "compare.h"
#include "naive_gptq.h"
#include "safetensors.h"
#include "test_common.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* docs/reference-vectors.md §1 lists 25 cases; fewer files means a broken copy of the data. */
#define N_CASES_EXPECTED 25

typedef struct vcase {
    char name[128];
    int64_t n, k, t, n_calib;
    float *w, *h, *x;
    tq_result ref;
    naive_opts o;
    double loss, relerr, relerr_h;
    int has_perm;
} vcase;

static const char *g_dir;

static const char *meta(const st_file *f, const char *key) {
    const char *v = st_meta(f, key);
    if (!v) fail_msg("metadata '%s' missing", key);
    return v;
}

static int meta_bool(const st_file *f, const char *key) {
    return strcmp(meta(f, key), "true") == 0;
}

static void *need(void *p, const char *what) {
    if (!p) fail_msg("tensor '%s' missing or of an unexpected dtype", what);
    return p;
}

static void vcase_load(const char *path, vcase *c) {
    memset(c, 0, sizeof *c);
    const char *base = strrchr(path, '/');
    snprintf(c->name, sizeof c->name, "%s", base ? base + 1 : path);
    st_file *f = st_open(path);
    if (!f) fail_msg("cannot read %s", path);
    c->n = atoll(meta(f, "rows_N"));
    c->k = atoll(meta(f, "cols_K"));
    c->n_calib = atoll(meta(f, "n_calib"));
    naive_opts_default(&c->o);
    c->o.bits = atoi(meta(f, "bits"));
    c->o.group_size = atoi(meta(f, "group_size"));
    c->o.sym = meta_bool(f, "sym");
    c->o.act_order = meta_bool(f, "act_order");
    c->o.static_groups = meta_bool(f, "static_groups");
    c->o.block_size = atoi(meta(f, "blocksize"));
    c->o.damp_percent = atof(meta(f, "damp_percent"));
    c->o.mse = meta_bool(f, "mse");
    c->o.mse_norm = (float)atof(meta(f, "mse_norm"));
    c->o.mse_grid = atoi(meta(f, "mse_grid"));
    c->o.mse_maxshrink = (float)atof(meta(f, "mse_maxshrink"));
    c->loss = atof(meta(f, "loss"));
    c->relerr = atof(meta(f, "relerr_gptq"));
    c->relerr_h = atof(meta(f, "relerr_H_gptq"));
    const int64_t n_groups = atoll(meta(f, "n_groups"));

    int64_t numel = 0;
    c->w = need(st_read_f32(f, "W", &numel), "W");
    assert_int_equal(numel, c->n * c->k);
    c->h = need(st_read_f32(f, "H", &numel), "H");
    assert_int_equal(numel, c->k * c->k);
    c->x = need(st_read_f32(f, "X_heldout", &numel), "X_heldout");
    c->t = numel / c->k;

    tq_result *r = &c->ref;
    tq_result_alloc(r, c->n, c->k, n_groups);
    float *q = need(st_read_f32(f, "Q", &numel), "Q");
    memcpy(r->q, q, sizeof(float) * (size_t)(c->n * c->k));
    free(q);
    int32_t *codes = need(st_read_i32(f, "codes", &numel), "codes");
    memcpy(r->codes, codes, sizeof(int32_t) * (size_t)(c->n * c->k));
    free(codes);
    float *scales = need(st_read_f32(f, "scales", &numel), "scales");
    assert_int_equal(numel, n_groups * c->n);
    memcpy(r->scales, scales, sizeof(float) * (size_t)numel);
    free(scales);
    int32_t *zeros = need(st_read_i32(f, "zeros", &numel), "zeros");
    memcpy(r->zeros, zeros, sizeof(int32_t) * (size_t)numel);
    free(zeros);
    int32_t *g_idx = need(st_read_i32(f, "g_idx", &numel), "g_idx");
    memcpy(r->g_idx, g_idx, sizeof(int32_t) * (size_t)c->k);
    free(g_idx);
    int32_t *perm = st_read_i32(f, "perm", &numel);
    c->has_perm = perm != NULL;
    for (int64_t i = 0; i < c->k; ++i) r->perm[i] = perm ? perm[i] : (int32_t)i;
    free(perm);
    r->loss = c->loss;
    st_close(f);
}

static void vcase_free(vcase *c) {
    free(c->w);
    free(c->h);
    free(c->x);
    tq_result_free(&c->ref);
}

static int rel_within(const char *label, const char *what, double got, double want, double tol) {
    const double rel = fabs(got - want) / fabs(want);
    if (rel <= tol) return 0;
    fprintf(stderr, "[%s] %s = %.9g, expected %.9g (relative %.3g > %.3g)\n", label, what, got,
            want, rel, tol);
    return 1;
}

/* Quantizes the case with the library from `hess` and applies every check of docs/reference-vectors.md §6. */
static void check_library(const vcase *c, gptq_ctx *ctx, const gptq_hessian *hess,
                          const char *label) {
    gptq_quant_params p;
    tq_params_from_opts(&c->o, c->name, &p);
    gptq_matrix w = tc_matrix_f32(c->w, c->n, c->k, 0);
    gptq_quant_report rep;
    memset(&rep, 0, sizeof rep);
    rep.struct_size = sizeof rep;
    gptq_qlayer *ql = NULL;
    const gptq_status st = gptq_quantize_layer(ctx, &p, &w, hess, &ql, &rep);
    if (st != GPTQ_OK) fail_msg("[%s] gptq_quantize_layer: %s", label, gptq_last_error(ctx));
    tq_result got;
    assert_int_equal(tq_fetch(ql, &got), 0);

    double *diag = tq_fixed_diag(c->h, c->k);
    int bad = tq_compare(label, &got, &c->ref, diag, TQ_TOL_VECTORS);
    bad += tq_check_relations(label, &got, &c->o, c->w, c->h);
    bad += rel_within(label, "relerr_gptq (X_heldout)",
                      naive_relerr_x(c->x, c->t, c->w, got.q, c->n, c->k), c->relerr, 0.005);
    bad += rel_within(label, "relerr_H_gptq (from Q)", naive_relerr_h(c->h, c->w, got.q, c->n, c->k),
                      c->relerr_h, 0.005);
    bad += rel_within(label, "report.rel_output_error", rep.rel_output_error, c->relerr_h, 0.005);
    bad += rel_within(label, "report.loss", rep.loss, c->loss, 0.001);
    int64_t dead = 0;
    for (int64_t j = 0; j < c->k; ++j) dead += c->h[j * c->k + j] == 0;
    if (rep.dead_columns != dead) {
        fprintf(stderr, "[%s] report.dead_columns %lld, expected %lld\n", label,
                (long long)rep.dead_columns, (long long)dead);
        ++bad;
    }
    /* Every vector factorises at its stored damping: no retry may have happened. */
    if (rep.damp_retries != 0 || fabs(rep.damp_used - c->o.damp_percent) > 1e-6) {
        fprintf(stderr, "[%s] damping %g after %d retries, expected %g\n", label, rep.damp_used,
                rep.damp_retries, c->o.damp_percent);
        ++bad;
    }
    free(diag);
    tq_result_free(&got);
    gptq_qlayer_destroy(ql);
    assert_int_equal(bad, 0);
}

static void test_library(void **state) {
    vcase c;
    vcase_load((const char *)*state, &c);
    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *hess = NULL;
    assert_int_equal(gptq_hessian_create(ctx, c.k, &hess), GPTQ_OK);
    assert_int_equal(gptq_hessian_set(hess, c.h, c.k, c.n_calib), GPTQ_OK);
    check_library(&c, ctx, hess, c.name);
    gptq_hessian_destroy(hess);
    gptq_ctx_destroy(ctx);
    vcase_free(&c);
}

/* The naive implementation must itself reproduce the reference: this is what makes it a
 * trustworthy oracle for test_naive's random layers. */
static void test_naive_oracle(void **state) {
    vcase c;
    vcase_load((const char *)*state, &c);
    char label[160];
    snprintf(label, sizeof label, "naive %s", c.name);
    tq_result r;
    assert_int_equal(naive_gptq(c.w, c.h, c.n, c.k, &c.o, &r), 0);
    double *diag = tq_fixed_diag(c.h, c.k);
    int bad = tq_compare(label, &r, &c.ref, diag, TQ_TOL_VECTORS);
    bad += tq_check_relations(label, &r, &c.o, c.w, c.h);
    /* The checker itself: the reference satisfies every relation exactly (docs/reference-vectors.md §3). */
    bad += tq_check_relations("reference", &c.ref, &c.o, c.w, c.h);
    bad += rel_within(label, "relerr_gptq", naive_relerr_x(c.x, c.t, c.w, r.q, c.n, c.k),
                      c.relerr, 0.005);
    bad += rel_within(label, "loss", r.loss, c.loss, 0.001);
    free(diag);
    tq_result_free(&r);
    vcase_free(&c);
    assert_int_equal(bad, 0);
}

/* Feeds X_calib in uneven batches (with a padded row stride every other batch) and checks
 * the accumulated H against the stored one, then quantizes from it. */
static void test_hessian_accumulation(void **state) {
    const char *path = (const char *)*state;
    vcase c;
    vcase_load(path, &c);
    st_file *f = st_open(path);
    assert_non_null(f);
    st_tensor_info xi;
    assert_int_equal(st_info(f, "X_calib", &xi), 0);
    assert_int_equal(xi.ndim, 2);
    assert_int_equal(xi.shape[1], c.k);
    const int64_t n_tok = xi.shape[0], k = c.k;
    assert_int_equal(n_tok, c.n_calib);
    const int is_f16 = strcmp(xi.dtype, "F16") == 0;
    assert_true(is_f16 || strcmp(xi.dtype, "F32") == 0);
    const size_t esz = is_f16 ? 2 : 4;
    const uint16_t probe = 1;
    assert_int_equal(*(const unsigned char *)&probe, 1); /* raw copy assumes little-endian */

    gptq_ctx *ctx = tc_ctx();
    gptq_hessian *hess = NULL;
    assert_int_equal(gptq_hessian_create(ctx, k, &hess), GPTQ_OK);
    static const int64_t batch_sizes[] = {1, 37, 256, 5, 300, 129};
    const int64_t stride = k + 5;
    unsigned char *buf = tc_xmalloc((size_t)(n_tok * stride) * esz);
    int64_t done = 0;
    for (int b = 0; done < n_tok; ++b) {
        int64_t rows = batch_sizes[b % 6];
        if (rows > n_tok - done) rows = n_tok - done;
        const int padded = b % 2;
        const int64_t ld = padded ? stride : k;
        for (int64_t r = 0; r < rows; ++r)
            memcpy(buf + (size_t)(r * ld) * esz,
                   (const unsigned char *)xi.data + (size_t)((done + r) * k) * esz,
                   (size_t)k * esz);
        gptq_matrix x;
        x.data = buf;
        x.dtype = is_f16 ? GPTQ_DTYPE_F16 : GPTQ_DTYPE_F32;
        x.rows = rows;
        x.cols = k;
        x.row_stride = padded ? stride : 0;
        const gptq_status st = gptq_hessian_add(hess, &x);
        if (st != GPTQ_OK) fail_msg("gptq_hessian_add: %s", gptq_last_error(ctx));
        done += rows;
    }
    free(buf);
    st_close(f);
    assert_int_equal(gptq_hessian_tokens(hess), n_tok);
    assert_int_equal(gptq_hessian_dim(hess), k);

    float *h = tc_xmalloc((size_t)(k * k) * sizeof(float));
    assert_int_equal(gptq_hessian_get(hess, h, (size_t)(k * k)), GPTQ_OK);
    double hmax = 0, dmax = 0;
    for (int64_t i = 0; i < k * k; ++i) {
        hmax = fmax(hmax, fabs(c.h[i]));
        dmax = fmax(dmax, fabs((double)h[i] - c.h[i]));
    }
    free(h);
    if (!(dmax <= 1e-5 * hmax))
        fail_msg("accumulated H differs by %.3g, more than 1e-5 of max|H| = %.3g", dmax, hmax);

    char label[160];
    snprintf(label, sizeof label, "%s (accumulated H)", c.name);
    check_library(&c, ctx, hess, label);
    gptq_hessian_destroy(hess);
    gptq_ctx_destroy(ctx);
    vcase_free(&c);
}

static void add_test(struct CMUnitTest *tests, char **names, int *nt, const char *prefix,
                     const char *base, CMUnitTestFunction fn, void *state) {
    names[*nt] = tc_xmalloc(strlen(prefix) + strlen(base) + 2);
    sprintf(names[*nt], "%s %s", prefix, base);
    const struct CMUnitTest t = {names[*nt], fn, NULL, NULL, state};
    tests[(*nt)++] = t;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    tc_init(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: %s <backend> <vectors dir>\n", argv[0]);
        return 1;
    }
    g_dir = argv[2];
    DIR *d = opendir(g_dir);
    if (!d) {
        fprintf(stderr, "FAIL: reference vectors directory %s not found\n", g_dir);
        return 1;
    }
    char *paths[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        const size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "case_", 5) != 0 || len < 12 ||
            strcmp(e->d_name + len - 12, ".safetensors") != 0)
            continue;
        paths[n] = tc_xmalloc(strlen(g_dir) + len + 2);
        sprintf(paths[n], "%s/%s", g_dir, e->d_name);
        ++n;
    }
    closedir(d);
    if (n < N_CASES_EXPECTED) {
        fprintf(stderr, "FAIL: %d reference vectors in %s, expected %d\n", n, g_dir,
                N_CASES_EXPECTED);
        return 1;
    }
    qsort(paths, (size_t)n, sizeof paths[0], by_name);

    struct CMUnitTest *tests = tc_xcalloc((size_t)(2 * n + 2), sizeof *tests);
    char **names = tc_xcalloc((size_t)(2 * n + 2), sizeof(char *));
    int nt = 0, n_accum = 0;
    for (int i = 0; i < n; ++i) {
        const char *base = strrchr(paths[i], '/') + 1;
        add_test(tests, names, &nt, "library", base, test_library, paths[i]);
        add_test(tests, names, &nt, "naive", base, test_naive_oracle, paths[i]);
    }
    for (int i = 0; i < n; ++i) {
        const char *base = strrchr(paths[i], '/') + 1;
        if (strncmp(base, "case_007", 8) != 0 && strncmp(base, "case_008", 8) != 0) continue;
        add_test(tests, names, &nt, "hessian accumulation", base, test_hessian_accumulation,
                 paths[i]);
        ++n_accum;
    }
    if (n_accum != 2) {
        fprintf(stderr, "FAIL: cases 007 and 008 (X_calib) not found in %s\n", g_dir);
        return 1;
    }
    const int failed = _cmocka_run_group_tests("test_vectors", tests, (size_t)nt, NULL, NULL);
    for (int i = 0; i < nt; ++i) free(names[i]);
    for (int i = 0; i < n; ++i) free(paths[i]);
    free(names);
    free(tests);
    return failed ? 1 : 0;
}
