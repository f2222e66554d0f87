/* Plain GPTQ from spec/GPTQ.md, written for readability rather than speed. The only
 * concession to the reference's blocked structure is the snapshot of W taken at every
 * block start, because find_params is defined to read it (docs/gptq-reference.md §3, "sic"). */
#include "naive_gptq.h"

#include "test_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void naive_opts_default(naive_opts *o) {
    memset(o, 0, sizeof *o);
    o->bits = 4;
    o->group_size = 128;
    o->block_size = 128;
    o->damp_percent = 0.01;
    o->damp_increment = 0.01;
    o->damp_max = 1.0;
    o->mse_grid = 100;
    o->mse_maxshrink = 0.8f;
    o->mse_norm = 2.4f;
}

void tq_result_alloc(tq_result *r, int64_t n, int64_t k, int64_t n_groups) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->k = k;
    r->n_groups = n_groups;
    r->codes = tc_xcalloc((size_t)(n * k), sizeof(int32_t));
    r->q = tc_xcalloc((size_t)(n * k), sizeof(float));
    r->scales = tc_xcalloc((size_t)(n_groups * n), sizeof(float));
    r->zeros = tc_xcalloc((size_t)(n_groups * n), sizeof(int32_t));
    r->g_idx = tc_xcalloc((size_t)k, sizeof(int32_t));
    r->perm = tc_xcalloc((size_t)k, sizeof(int32_t));
}

void tq_result_free(tq_result *r) {
    free(r->codes);
    free(r->q);
    free(r->scales);
    free(r->zeros);
    free(r->g_idx);
    free(r->perm);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ quantizer (§4) */

static float quantize_value(float x, float scale, float zero, int maxq) {
    float q = rintf(x / scale) + zero; /* rintf: round half to even in the default mode */
    q = fminf(fmaxf(q, 0.0f), (float)maxq);
    return scale * (q - zero);
}

int32_t naive_code(float x, float scale, int32_t zero, int maxq) {
    float q = rintf(x / scale) + (float)zero;
    q = fminf(fmaxf(q, 0.0f), (float)maxq);
    return (int32_t)q;
}

void naive_find_params(const float *x, int64_t len, const naive_opts *o, float *scale_out,
                       int32_t *zero_out) {
    const int maxq = (1 << o->bits) - 1;
    float xmin = 0.0f, xmax = 0.0f; /* the range always contains 0 */
    for (int64_t i = 0; i < len; ++i) {
        xmin = fminf(xmin, x[i]);
        xmax = fmaxf(xmax, x[i]);
    }
    if (o->sym) {
        xmax = fmaxf(fabsf(xmin), xmax);
        if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) {
        xmin = -1;
        xmax = 1;
    }
    const float sym_zero = (float)(maxq + 1) / 2;
    float scale = (xmax - xmin) / (float)maxq;
    float zero = o->sym ? sym_zero : rintf(-xmin / scale);
    if (o->mse) {
        double best = INFINITY;
        const int steps = (int)(o->mse_maxshrink * (float)o->mse_grid);
        for (int i = 0; i < steps; ++i) {
            const float p = (float)(1.0 - (double)i / o->mse_grid);
            const float xmin1 = p * xmin, xmax1 = p * xmax;
            const float scale1 = (xmax1 - xmin1) / (float)maxq;
            const float zero1 = o->sym ? sym_zero : rintf(-xmin1 / scale1);
            double err = 0;
            for (int64_t j = 0; j < len; ++j) {
                const float d = fabsf(quantize_value(x[j], scale1, zero1, maxq) - x[j]);
                err += pow((double)d, (double)o->mse_norm);
            }
            if (err < best) {
                best = err;
                scale = scale1;
                zero = zero1;
            }
        }
    }
    *scale_out = scale;
    *zero_out = (int32_t)zero;
}

/* ------------------------------------------------------------------ linear algebra */

/* Lower Cholesky factor of a (k x k), in place into l. -1 if not positive definite. */
static int cholesky_lower(const double *a, int64_t k, double *l) {
    memset(l, 0, (size_t)(k * k) * sizeof(double));
    for (int64_t j = 0; j < k; ++j) {
        double d = a[j * k + j];
        for (int64_t m = 0; m < j; ++m) d -= l[j * k + m] * l[j * k + m];
        if (!(d > 0) || !isfinite(d)) return -1;
        const double ljj = sqrt(d);
        l[j * k + j] = ljj;
        for (int64_t i = j + 1; i < k; ++i) {
            double s = a[i * k + j];
            for (int64_t m = 0; m < j; ++m) s -= l[i * k + m] * l[j * k + m];
            l[i * k + j] = s / ljj;
        }
    }
    return 0;
}

/* Hinv = (L L^T)^-1 = L^-T L^-1, with L^-1 by forward substitution. */
static void inverse_from_cholesky(const double *l, int64_t k, double *hinv) {
    double *li = tc_xcalloc((size_t)(k * k), sizeof(double));
    for (int64_t c = 0; c < k; ++c) { /* column c of L^-1 solves L x = e_c */
        for (int64_t i = c; i < k; ++i) {
            double s = (i == c) ? 1.0 : 0.0;
            for (int64_t m = c; m < i; ++m) s -= l[i * k + m] * li[m * k + c];
            li[i * k + c] = s / l[i * k + i];
        }
    }
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            double s = 0;
            for (int64_t m = (i > j ? i : j); m < k; ++m) s += li[m * k + i] * li[m * k + j];
            hinv[i * k + j] = s;
        }
    free(li);
}

/* U with Hinv = U^T U from the damped, permuted H. -1 on a failed Cholesky. */
static int inverse_factor(const double *h, int64_t k, double damp, double *u) {
    double *a = tc_xmalloc((size_t)(k * k) * sizeof(double));
    double *l = tc_xmalloc((size_t)(k * k) * sizeof(double));
    double mean = 0;
    for (int64_t j = 0; j < k; ++j) mean += h[j * k + j];
    mean /= (double)k;
    memcpy(a, h, (size_t)(k * k) * sizeof(double));
    for (int64_t j = 0; j < k; ++j) a[j * k + j] += damp * mean;
    int rc = cholesky_lower(a, k, l);
    if (rc == 0) {
        inverse_from_cholesky(l, k, a);
        rc = cholesky_lower(a, k, l);
    }
    if (rc == 0)
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) u[i * k + j] = l[j * k + i];
    free(a);
    free(l);
    return rc;
}

/* ------------------------------------------------------------------ GPTQ (§2, §3) */

static const double *g_sort_key;

/* Descending diag; ties by index, i.e. a stable sort (docs/gptq-reference.md allows any order of ties). */
static int by_diag_desc(const void *pa, const void *pb) {
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (g_sort_key[a] > g_sort_key[b]) return -1;
    if (g_sort_key[a] < g_sort_key[b]) return 1;
    return (a > b) - (a < b);
}

int naive_gptq(const float *w_in, const float *h_in, int64_t n, int64_t k, const naive_opts *o,
               tq_result *r) {
    const int maxq = (1 << o->bits) - 1;
    const int per_row = o->group_size < 0;
    const int64_t gs = per_row ? k : o->group_size;
    const int64_t n_groups = (k + gs - 1) / gs;
    const int is_static = o->static_groups && !per_row;
    tq_result_alloc(r, n, k, n_groups);

    /* §2.1: with one group per row, parameters come from the caller's unmodified W. */
    if (per_row)
        for (int64_t i = 0; i < n; ++i)
            naive_find_params(w_in + i * k, k, o, &r->scales[i], &r->zeros[i]);

    /* §2.2: dead columns. */
    double *h = tc_xmalloc((size_t)(k * k) * sizeof(double));
    float *w = tc_xmalloc((size_t)(n * k) * sizeof(float));
    for (int64_t i = 0; i < k * k; ++i) h[i] = h_in[i];
    memcpy(w, w_in, (size_t)(n * k) * sizeof(float));
    for (int64_t j = 0; j < k; ++j)
        if (h[j * k + j] == 0) {
            h[j * k + j] = 1;
            for (int64_t i = 0; i < n; ++i) w[i * k + j] = 0;
        }

    /* §2.3: static groups from the dead-zeroed, unpermuted W. */
    float *slice = tc_xmalloc((size_t)k * sizeof(float));
    if (is_static)
        for (int64_t g = 0; g < n_groups; ++g) {
            const int64_t c0 = g * gs, len = (c0 + gs <= k) ? gs : k - c0;
            for (int64_t i = 0; i < n; ++i)
                naive_find_params(w + i * k + c0, len, o, &r->scales[g * n + i],
                                  &r->zeros[g * n + i]);
        }

    /* §2.4: act-order permutation. */
    double *diag = tc_xmalloc((size_t)k * sizeof(double));
    for (int64_t j = 0; j < k; ++j) {
        diag[j] = h[j * k + j];
        r->perm[j] = (int32_t)j;
    }
    if (o->act_order) {
        g_sort_key = diag;
        qsort(r->perm, (size_t)k, sizeof(int32_t), by_diag_desc);
    }
    const int32_t *perm = r->perm;
    double *hp = tc_xmalloc((size_t)(k * k) * sizeof(double));
    double *wp = tc_xmalloc((size_t)(n * k) * sizeof(double));
    for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b) hp[a * k + b] = h[(int64_t)perm[a] * k + perm[b]];
    for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < k; ++c) wp[i * k + c] = w[i * k + perm[c]];

    /* §2.5-2.6: damping with retries, then U. */
    double *u = tc_xmalloc((size_t)(k * k) * sizeof(double));
    double damp = o->damp_percent;
    int rc;
    while ((rc = inverse_factor(hp, k, damp, u)) != 0) {
        if (!(o->damp_increment > 0) || damp + o->damp_increment > o->damp_max * (1 + 1e-9))
            break;
        damp += o->damp_increment;
    }
    r->damp_used = damp;

    if (rc == 0) {
        /* §3 without blocks: after column col is quantized its error is pushed into every
         * later column at once. `snap` is W as of the current block start. */
        double *snap = tc_xmalloc((size_t)(n * k) * sizeof(double));
        const int64_t bs = o->block_size > 0 ? o->block_size : k;
        double loss = 0;
        for (int64_t col = 0; col < k; ++col) {
            if (col % bs == 0) memcpy(snap, wp, (size_t)(n * k) * sizeof(double));
            const int64_t g_dyn = col / gs;
            if (!per_row && !is_static && col % gs == 0) {
                const int64_t len = (col + gs <= k) ? gs : k - col;
                for (int64_t i = 0; i < n; ++i) {
                    for (int64_t c = 0; c < len; ++c) slice[c] = (float)snap[i * k + col + c];
                    naive_find_params(slice, len, o, &r->scales[g_dyn * n + i],
                                      &r->zeros[g_dyn * n + i]);
                }
            }
            const int64_t g = per_row ? 0 : is_static ? perm[col] / gs : g_dyn;
            const double d = u[col * k + col];
            for (int64_t i = 0; i < n; ++i) {
                const float scale = r->scales[g * n + i];
                const int32_t zero = r->zeros[g * n + i];
                const double wv = wp[i * k + col];
                const float x = (float)wv;
                const int32_t code = naive_code(x, scale, zero, maxq);
                const float q = scale * (float)(code - zero);
                r->codes[i * k + perm[col]] = code;
                r->q[i * k + perm[col]] = q;
                const double err = (wv - q) / d;
                loss += (wv - q) * (wv - q) / (d * d) / 2;
                for (int64_t j = col + 1; j < k; ++j) wp[i * k + j] -= err * u[col * k + j];
            }
        }
        r->loss = loss;
        free(snap);
        for (int64_t c = 0; c < k; ++c)
            r->g_idx[c] = per_row ? 0 : (o->act_order && !is_static) ? -1 : (int32_t)(c / gs);
        if (!per_row && o->act_order && !is_static)
            for (int64_t i = 0; i < k; ++i) r->g_idx[perm[i]] = (int32_t)(i / gs);
    }
    free(h);
    free(w);
    free(slice);
    free(diag);
    free(hp);
    free(wp);
    free(u);
    return rc;
}

void naive_rtn(const float *w, int64_t n, int64_t k, const naive_opts *o, tq_result *r) {
    const int maxq = (1 << o->bits) - 1;
    const int64_t gs = o->group_size < 0 ? k : o->group_size;
    const int64_t n_groups = (k + gs - 1) / gs;
    tq_result_alloc(r, n, k, n_groups);
    for (int64_t c = 0; c < k; ++c) {
        r->g_idx[c] = (int32_t)(c / gs);
        r->perm[c] = (int32_t)c;
    }
    for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t c0 = g * gs, len = (c0 + gs <= k) ? gs : k - c0;
        for (int64_t i = 0; i < n; ++i) {
            float scale;
            int32_t zero;
            naive_find_params(w + i * k + c0, len, o, &scale, &zero);
            r->scales[g * n + i] = scale;
            r->zeros[g * n + i] = zero;
            for (int64_t c = c0; c < c0 + len; ++c) {
                const int32_t code = naive_code(w[i * k + c], scale, zero, maxq);
                r->codes[i * k + c] = code;
                r->q[i * k + c] = scale * (float)(code - zero);
            }
        }
    }
}

/* ------------------------------------------------------------------ packing (§5) */

/* 3 bits pack in whole runs of 32 codes (3 words), the unit of docs/gptq-reference.md's layout, so a
 * partial run still takes 3 words; docs/gptq-reference.md's [K*b/32] is exact when K % 32 == 0. */
int64_t naive_packed_len(int64_t len, int bits) {
    if (bits == 3) return (len + 31) / 32 * 3;
    return (len * bits + 31) / 32;
}

/* 3-bit: docs/gptq-reference.md's word-by-word description, transcribed literally (32 codes -> 3 words). */
static void pack3_code(uint32_t *wd, int64_t n_words, int64_t idx, uint32_t c) {
    const int64_t base = (idx / 32) * 3;
    const int j = (int)(idx % 32);
#define PUT(word, val)                                          \
    do {                                                        \
        if (base + (word) < n_words) wd[base + (word)] |= (val); \
    } while (0)
    if (j <= 9) {
        PUT(0, c << (3 * j));
    } else if (j == 10) {
        PUT(0, (c & 3u) << 30);
        PUT(1, c >> 2);
    } else if (j <= 20) {
        PUT(1, c << (3 * (j - 11) + 1));
    } else if (j == 21) {
        PUT(1, (c & 1u) << 31);
        PUT(2, c >> 1);
    } else {
        PUT(2, c << (3 * (j - 22) + 2));
    }
#undef PUT
}

static uint32_t unpack3_code(const uint32_t *wd, int64_t idx) {
    const uint32_t *w = wd + (idx / 32) * 3;
    const int j = (int)(idx % 32);
    if (j <= 9) return (w[0] >> (3 * j)) & 7u;
    if (j == 10) return (w[0] >> 30) | ((w[1] & 1u) << 2);
    if (j <= 20) return (w[1] >> (3 * (j - 11) + 1)) & 7u;
    if (j == 21) return (w[1] >> 31) | ((w[2] & 3u) << 1);
    return (w[2] >> (3 * (j - 22) + 2)) & 7u;
}

void naive_pack_seq(const int32_t *codes, int64_t len, int bits, uint32_t *words) {
    const int64_t n_words = naive_packed_len(len, bits);
    memset(words, 0, (size_t)n_words * sizeof(uint32_t));
    const uint32_t mask = (1u << bits) - 1u;
    for (int64_t i = 0; i < len; ++i) {
        const uint32_t c = (uint32_t)codes[i] & mask;
        if (bits == 3) {
            pack3_code(words, n_words, i, c);
        } else {
            const int per = 32 / bits;
            words[i / per] |= c << (bits * (i % per));
        }
    }
}

int32_t naive_unpack_at(const uint32_t *words, int64_t i, int bits) {
    if (bits == 3) return (int32_t)unpack3_code(words, i);
    const int per = 32 / bits;
    return (int32_t)((words[i / per] >> (bits * (i % per))) & ((1u << bits) - 1u));
}

void naive_pack_qweight(const int32_t *codes, int64_t n, int64_t k, int bits, int32_t *qweight) {
    const int64_t rows = naive_packed_len(k, bits);
    int32_t *col = tc_xmalloc((size_t)k * sizeof(int32_t));
    uint32_t *words = tc_xmalloc((size_t)rows * sizeof(uint32_t));
    for (int64_t j = 0; j < n; ++j) {
        for (int64_t c = 0; c < k; ++c) col[c] = codes[j * k + c];
        naive_pack_seq(col, k, bits, words);
        for (int64_t r = 0; r < rows; ++r) qweight[r * n + j] = (int32_t)words[r];
    }
    free(col);
    free(words);
}

void naive_pack_qzeros(const int32_t *zeros, int64_t n_groups, int64_t n, int bits, int v1,
                       int32_t *qzeros) {
    const int64_t cols = naive_packed_len(n, bits);
    int32_t *row = tc_xmalloc((size_t)n * sizeof(int32_t));
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t j = 0; j < n; ++j) row[j] = zeros[g * n + j] - (v1 ? 1 : 0);
        naive_pack_seq(row, n, bits, (uint32_t *)(qzeros + g * cols));
    }
    free(row);
}

/* ------------------------------------------------------------------ products, errors */

void naive_dequant(const int32_t *codes, const float *scales, const int32_t *zeros,
                   const int32_t *g_idx, int64_t n, int64_t k, float *w) {
    for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < k; ++c) {
            const int64_t g = g_idx[c];
            w[j * k + c] = scales[g * n + j] * (float)(codes[j * k + c] - zeros[g * n + j]);
        }
}

void naive_matmul(const float *x, int64_t m, int64_t k, int64_t ldx, const float *w, int64_t n,
                  double *y, double *abs_sum) {
    for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0, a = 0;
            for (int64_t c = 0; c < k; ++c) {
                const double p = (double)x[r * ldx + c] * (double)w[j * k + c];
                s += p;
                a += fabs(p);
            }
            y[r * n + j] = s;
            if (abs_sum) abs_sum[r * n + j] = a;
        }
}

double naive_relerr_x(const float *x, int64_t t, const float *w, const float *q, int64_t n,
                      int64_t k) {
    double num = 0, den = 0;
    for (int64_t r = 0; r < t; ++r)
        for (int64_t j = 0; j < n; ++j) {
            double yd = 0, yw = 0;
            for (int64_t c = 0; c < k; ++c) {
                yd += (double)x[r * k + c] * ((double)w[j * k + c] - (double)q[j * k + c]);
                yw += (double)x[r * k + c] * (double)w[j * k + c];
            }
            num += yd * yd;
            den += yw * yw;
        }
    return num / den;
}

double naive_relerr_h(const float *h, const float *w, const float *q, int64_t n, int64_t k) {
    double num = 0, den = 0;
    double *d = tc_xmalloc((size_t)k * sizeof(double));
    for (int64_t j = 0; j < n; ++j) {
        for (int64_t c = 0; c < k; ++c) d[c] = (double)w[j * k + c] - (double)q[j * k + c];
        for (int64_t a = 0; a < k; ++a)
            for (int64_t b = 0; b < k; ++b) {
                num += d[a] * (double)h[a * k + b] * d[b];
                den += (double)w[j * k + a] * (double)h[a * k + b] * (double)w[j * k + b];
            }
    }
    free(d);
    return num / den;
}
