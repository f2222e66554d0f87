#include "compare.h"

#include "test_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enough detail to diagnose, without flooding the log when everything is off. */
#define MAX_REPORTS 8

#define REPORT(count, ...)                       \
    do {                                         \
        if ((count)++ < MAX_REPORTS) {           \
            fprintf(stderr, "[%s] ", label);     \
            fprintf(stderr, __VA_ARGS__);        \
            fputc('\n', stderr);                 \
        }                                        \
    } while (0)

double *tq_fixed_diag(const float *h, int64_t k) {
    double *d = tc_xmalloc((size_t)k * sizeof(double));
    for (int64_t j = 0; j < k; ++j) d[j] = h[j * k + j] == 0 ? 1.0 : (double)h[j * k + j];
    return d;
}

int tq_compare(const char *label, const tq_result *got, const tq_result *ref,
               const double *diag, tq_tol tol) {
    const double min_identical = tol.min_identical;
    int bad = 0;
    const int64_t n = ref->n, k = ref->k;
    if (got->n != n || got->k != k || got->n_groups != ref->n_groups) {
        REPORT(bad, "shape %lldx%lld/%lld groups, expected %lldx%lld/%lld", (long long)got->n,
               (long long)got->k, (long long)got->n_groups, (long long)n, (long long)k,
               (long long)ref->n_groups);
        return bad;
    }
    for (int64_t c = 0; c < k; ++c)
        if (got->g_idx[c] != ref->g_idx[c])
            REPORT(bad, "g_idx[%lld] = %d, expected %d", (long long)c, got->g_idx[c],
                   ref->g_idx[c]);
    if (diag)
        for (int64_t i = 0; i < k; ++i) {
            const int32_t a = got->perm[i], b = ref->perm[i];
            if (a != b && (a < 0 || a >= k || diag[a] != diag[b]))
                REPORT(bad, "perm[%lld] = %d, expected %d (not a tie)", (long long)i, a, b);
        }

    /* Codes: the only place a legitimate difference may start (see docs/reference-vectors.md §6). */
    char *dirty = tc_xcalloc((size_t)n, 1);
    int64_t differ = 0;
    for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < k; ++c) {
            const int32_t d = got->codes[j * k + c] - ref->codes[j * k + c];
            if (d != 0) {
                ++differ;
                dirty[j] = 1;
            }
            if (d > 1 || d < -1)
                REPORT(bad, "code[%lld,%lld] = %d, expected %d (|delta| > 1)", (long long)j,
                       (long long)c, got->codes[j * k + c], ref->codes[j * k + c]);
        }
    const double identical = 1.0 - (double)differ / (double)(n * k);
    if (identical < min_identical)
        REPORT(bad, "%.4f%% of codes identical, need >= %.4f%%", 100 * identical,
               100 * min_identical);
    if (differ) fprintf(stderr, "[%s] note: %lld codes differ by 1\n", label, (long long)differ);

    for (int64_t g = 0; g < ref->n_groups; ++g)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = g * n + j;
            if (!dirty[j] && got->zeros[i] != ref->zeros[i])
                REPORT(bad, "zero[g%lld,row %lld] = %d, expected %d", (long long)g,
                       (long long)j, got->zeros[i], ref->zeros[i]);
            const double rel = fabs((double)got->scales[i] - ref->scales[i]) / fabs(ref->scales[i]);
            const double lim = dirty[j] ? 0.05 : tol.scale_rel;
            if (!(rel <= lim))
                REPORT(bad, "scale[g%lld,row %lld] = %.9g, expected %.9g (rel %.3g > %.3g)",
                       (long long)g, (long long)j, got->scales[i], ref->scales[i], rel, lim);
        }
    for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < k; ++c) {
            const double step = ref->scales[(int64_t)ref->g_idx[c] * n + j];
            const double lim = dirty[j] ? 1.5 * step
                                        : tol.q_steps * step + tol.q_rel * fabs(ref->q[j * k + c]);
            const double d = fabs((double)got->q[j * k + c] - ref->q[j * k + c]);
            if (!(d <= lim))
                REPORT(bad, "Q[%lld,%lld] = %.9g, expected %.9g (|delta| %.3g > %.3g)",
                       (long long)j, (long long)c, got->q[j * k + c], ref->q[j * k + c], d, lim);
        }
    free(dirty);
    return bad;
}

int tq_check_relations(const char *label, const tq_result *r, const naive_opts *o,
                       const float *w, const float *h) {
    int bad = 0;
    const int64_t n = r->n, k = r->k;
    const int maxq = (1 << o->bits) - 1;
    const int per_row = o->group_size < 0;
    const int64_t gs = per_row ? k : o->group_size;
    const int is_static = o->static_groups && !per_row;
    const int dyn_act = o->act_order && !per_row && !is_static;

    if (r->n_groups != (k + gs - 1) / gs)
        REPORT(bad, "n_groups %lld, expected %lld", (long long)r->n_groups,
               (long long)((k + gs - 1) / gs));
    char *seen = tc_xcalloc((size_t)k, 1);
    for (int64_t i = 0; i < k; ++i) {
        const int32_t p = r->perm[i];
        if (p < 0 || p >= k || seen[p]) {
            REPORT(bad, "perm is not a permutation at %lld", (long long)i);
            free(seen);
            return bad;
        }
        seen[p] = 1;
        if (!o->act_order && p != i) REPORT(bad, "perm[%lld] = %d without act-order", (long long)i, p);
    }
    free(seen);
    for (int64_t i = 0; i < k; ++i) {
        const int32_t want = per_row ? 0 : dyn_act ? -1 : (int32_t)(i / gs);
        if (want >= 0 && r->g_idx[i] != want)
            REPORT(bad, "g_idx[%lld] = %d, expected %d", (long long)i, r->g_idx[i], want);
        if (dyn_act && r->g_idx[r->perm[i]] != (int32_t)(i / gs))
            REPORT(bad, "g_idx[perm[%lld]] = %d, expected %lld", (long long)i,
                   r->g_idx[r->perm[i]], (long long)(i / gs));
    }
    for (int64_t i = 0; i < r->n_groups * n; ++i) {
        if (r->zeros[i] < 0 || r->zeros[i] > maxq)
            REPORT(bad, "zero %d out of 0..%d", r->zeros[i], maxq);
        if (o->sym && r->zeros[i] != (maxq + 1) / 2)
            REPORT(bad, "symmetric zero %d, expected %d", r->zeros[i], (maxq + 1) / 2);
        if (!(r->scales[i] > 0) || !isfinite(r->scales[i]))
            REPORT(bad, "scale %g not positive and finite", r->scales[i]);
    }
    if (bad) return bad; /* the checks below index with g_idx and trust the ranges */

    for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < k; ++c) {
            const int64_t gi = (int64_t)r->g_idx[c] * n + j;
            const int32_t code = r->codes[j * k + c];
            const float q = r->q[j * k + c];
            if (code < 0 || code > maxq) REPORT(bad, "code %d out of 0..%d", code, maxq);
            if (q != r->scales[gi] * (float)(code - r->zeros[gi]))
                REPORT(bad, "Q[%lld,%lld] = %.9g != scale * (code - zero) = %.9g", (long long)j,
                       (long long)c, q, r->scales[gi] * (float)(code - r->zeros[gi]));
            if ((int32_t)nearbyint((double)q / r->scales[gi]) + r->zeros[gi] != code)
                REPORT(bad, "code[%lld,%lld] = %d not recoverable from Q", (long long)j,
                       (long long)c, code);
        }

    float *wz = tc_xmalloc((size_t)(n * k) * sizeof(float));
    memcpy(wz, w, (size_t)(n * k) * sizeof(float));
    if (h) {
        double *diag = tq_fixed_diag(h, k);
        for (int64_t c = 0; c < k; ++c) {
            if (h[c * k + c] != 0) continue;
            for (int64_t j = 0; j < n; ++j) {
                wz[j * k + c] = 0;
                if (r->q[j * k + c] != 0 ||
                    r->codes[j * k + c] != r->zeros[(int64_t)r->g_idx[c] * n + j])
                    REPORT(bad, "dead column %lld row %lld: Q %g code %d", (long long)c,
                           (long long)j, r->q[j * k + c], r->codes[j * k + c]);
            }
        }
        if (o->act_order)
            for (int64_t i = 0; i + 1 < k; ++i)
                if (diag[r->perm[i]] < diag[r->perm[i + 1]])
                    REPORT(bad, "perm not in descending diag(H) order at %lld", (long long)i);
        free(diag);
    }
    /* Group parameters that do not depend on the GPTQ updates can be recomputed exactly. */
    if (per_row || is_static) {
        const float *src = per_row ? w : wz; /* per-row: before the dead-column fix (§5.1) */
        for (int64_t g = 0; g < r->n_groups; ++g) {
            const int64_t c0 = g * gs, len = (c0 + gs <= k) ? gs : k - c0;
            for (int64_t j = 0; j < n; ++j) {
                float s;
                int32_t z;
                naive_find_params(src + j * k + c0, len, o, &s, &z);
                if (s != r->scales[g * n + j] || z != r->zeros[g * n + j])
                    REPORT(bad, "group %lld row %lld: scale %.9g zero %d, quantizer gives %.9g %d",
                           (long long)g, (long long)j, r->scales[g * n + j], r->zeros[g * n + j],
                           s, z);
            }
        }
    }
    free(wz);
    return bad;
}

int tq_fetch(const gptq_qlayer *q, tq_result *out) {
    gptq_qlayer_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    memset(out, 0, sizeof *out);
    if (gptq_qlayer_get_info(q, &info) != GPTQ_OK) return -1;
    tq_result_alloc(out, info.n, info.k, info.n_groups);
    const size_t nk = (size_t)(info.n * info.k), gn = (size_t)(info.n_groups * info.n);
    if (gptq_qlayer_get_codes(q, out->codes, nk) != GPTQ_OK ||
        gptq_qlayer_get_scales(q, out->scales, gn) != GPTQ_OK ||
        gptq_qlayer_get_zeros(q, out->zeros, gn) != GPTQ_OK ||
        gptq_qlayer_get_g_idx(q, out->g_idx, (size_t)info.k) != GPTQ_OK ||
        gptq_qlayer_get_perm(q, out->perm, (size_t)info.k) != GPTQ_OK ||
        gptq_qlayer_dequantize(q, out->q, nk) != GPTQ_OK) {
        tq_result_free(out);
        return -1;
    }
    return 0;
}

void tq_params_from_opts(const naive_opts *o, const char *layer_name, gptq_quant_params *p) {
    gptq_quant_params_init(p);
    p->bits = o->bits;
    p->group_size = o->group_size;
    p->sym = o->sym;
    p->desc_act = o->act_order;
    p->static_groups = o->static_groups;
    p->block_size = o->block_size;
    p->damp_percent = (float)o->damp_percent;
    p->damp_auto_increment = (float)o->damp_increment;
    p->damp_max = (float)o->damp_max;
    p->mse = o->mse ? GPTQ_MSE_ON : GPTQ_MSE_OFF;
    p->mse_grid = o->mse_grid;
    p->mse_maxshrink = o->mse_maxshrink;
    p->mse_norm = o->mse_norm;
    p->layer_name = layer_name;
}

int tq_check_product(const char *label, const float *y, int64_t m, int64_t n, int64_t ldy,
                     int64_t k, const double *yr, const double *ab, double *worst) {
    int bad = 0;
    double w = 0;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldy; ++j) {
            const float got = y[i * ldy + j];
            if (j >= n) { /* ldy padding is not the library's to write */
                if (got != TQ_Y_SENTINEL && bad++ < 5)
                    fprintf(stderr, "[%s] y padding (%lld,%lld) overwritten\n", label,
                            (long long)i, (long long)j);
                continue;
            }
            const double want = yr[i * n + j];
            const double tol = 2.0 * (double)(k + 2) * TQ_UNIT_ROUNDOFF * ab[i * n + j];
            const double err = fabs((double)got - want);
            if (tol > 0) w = fmax(w, err / tol);
            if (!(err <= tol) && bad++ < 5)
                fprintf(stderr, "[%s] y(%lld,%lld) = %.9g, expected %.9g (err %.3g > tol %.3g)\n",
                        label, (long long)i, (long long)j, got, want, err, tol);
        }
    if (worst) *worst = w;
    return bad;
}
