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
