/* Synthetic layers that look like LLM linear layers (after docs/reference-vectors.md §8): Gaussian
 * weights with a few outlier input columns, and correlated, heavy-scaled activations with
 * per-channel means and optional dead channels. Deterministic for a given seed. */
#ifndef GPTQ_TEST_SYNTH_H
#define GPTQ_TEST_SYNTH_H

#include "test_common.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation generator for one layer: x = (z A) .* s + mu, z standard normal. */
typedef struct synth_acts {
    int64_t k;
    double *mix;   /* A [k x k] */
    double *scale; /* s [k] */
    double *mean;  /* mu [k] */
    char *dead;    /* [k], 1 = channel always exactly 0 */
} synth_acts;

void synth_acts_init(synth_acts *a, tc_rng *r, int64_t k, const int *dead, int n_dead);
void synth_acts_free(synth_acts *a);
/* x [t x k] fp32. */
void synth_acts_sample(const synth_acts *a, tc_rng *r, int64_t t, float *x);

/* w [n x k]: N(0, 0.02^2), max(2, k/96) outlier columns x8. */
void synth_weight(tc_rng *r, int64_t n, int64_t k, float *w);

#ifdef __cplusplus
}
#endif

#endif
