/* Comparisons of quantization results with the tolerances of docs/reference-vectors.md §6 and the
 * exact relations of §3. Each function prints every violation (up to a limit) to stderr,
 * prefixed with a label, and returns how many it found, so a failing test says why. */
#ifndef GPTQ_TEST_COMPARE_H
#define GPTQ_TEST_COMPARE_H

#include "naive_gptq.h"

#include <gptq/gptq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tolerances of a comparison. Rows with a differing code ("dirty" rows) always get the
 * §6 allowances (scales within 5 %, Q within 1.5 steps); zeros must match in clean rows. */
typedef struct tq_tol {
    double min_identical; /* required share of identical codes */
    double scale_rel;     /* clean rows: |d scale| / scale */
    double q_steps;       /* clean rows: |d Q| <= q_steps * scale + q_rel * |Q| */
    double q_rel;
} tq_tol;

/* docs/reference-vectors.md §6 exactly. */
#define TQ_TOL_VECTORS ((tq_tol){0.995, 1e-4, 1e-4, 0.0})

/* got vs ref. diag: diag(H) after the dead-column fix, used to accept perm differences
 * between exactly tied columns only; NULL skips the perm check. */
/* fp32 unit roundoff, the u of the product bounds below. */
#define TQ_UNIT_ROUNDOFF (1.0 / 16777216.0) /* 2^-24 */
/* Written into y's row padding before a product; the library must leave it. */
#define TQ_Y_SENTINEL 12345.0f

/* Checks a product y [m x ldy] against the double reference yr [m x n]: every element
 * within 2 (k + 2) u ab (ab = sum of |x w| of that element, the error bound of a k-term fp32
 * dot product), and the padding columns n..ldy-1 still TQ_Y_SENTINEL. Prints up to five
 * failures under `label`; returns their count. *worst (may be NULL) gets the largest
 * err / bound seen. */
int tq_check_product(const char *label, const float *y, int64_t m, int64_t n, int64_t ldy,
                     int64_t k, const double *yr, const double *ab, double *worst);

int tq_compare(const char *label, const tq_result *got, const tq_result *ref,
               const double *diag, tq_tol tol);

/* §3 relations on one result: g_idx layout, code and zero ranges, symmetric zeros,
 * Q == scale * (code - zero) bit for bit, codes recoverable from Q, dead columns, perm
 * ordered by diag(H), and per-row / static group parameters equal to the quantizer's on
 * the caller's (resp. dead-zeroed) W. h may be NULL (then no dead-column/perm checks). */
int tq_check_relations(const char *label, const tq_result *r, const naive_opts *o,
                       const float *w, const float *h);

/* diag(H) with dead columns set to 1 (docs/gptq-reference.md §2.2), malloc'd. */
double *tq_fixed_diag(const float *h, int64_t k);

/* gptq_quant_params equivalent to o (layer_name may be NULL). */
void tq_params_from_opts(const naive_opts *o, const char *layer_name, gptq_quant_params *p);

/* Everything the library exposes about a qlayer, unpacked. 0 on success. */
int tq_fetch(const gptq_qlayer *q, tq_result *out);

#ifdef __cplusplus
}
#endif

#endif
