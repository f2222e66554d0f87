#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void synth_acts_init(synth_acts *a, tc_rng *r, int64_t k, const int *dead, int n_dead) {
    a->k = k;
    a->mix = tc_xmalloc((size_t)(k * k) * sizeof(double));
    a->scale = tc_xmalloc((size_t)k * sizeof(double));
    a->mean = tc_xmalloc((size_t)k * sizeof(double));
    a->dead = tc_xcalloc((size_t)k, 1);
    /* Mixing with decaying strength: strongly correlated channels are what GPTQ exploits. */
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const double sigma = 4.0 / sqrt(1.0 + (double)j);
            a->mix[i * k + j] = tc_rng_normal(r) * sigma / sqrt((double)k) + (i == j ? 0.5 : 0.0);
        }
    for (int64_t j = 0; j < k; ++j) {
        a->scale[j] = exp(0.75 * tc_rng_normal(r));
        a->mean[j] = 0.3 * tc_rng_normal(r) * a->scale[j];
    }
    const int64_t n_out = k / 100 > 2 ? k / 100 : 2;
    for (int64_t i = 0; i < n_out; ++i) a->scale[tc_rng_u64(r) % (uint64_t)k] *= 20.0;
    for (int i = 0; i < n_dead; ++i)
        if (dead[i] >= 0 && dead[i] < k) a->dead[dead[i]] = 1;
}

void synth_acts_free(synth_acts *a) {
    free(a->mix);
    free(a->scale);
    free(a->mean);
    free(a->dead);
    memset(a, 0, sizeof *a);
}

void synth_acts_sample(const synth_acts *a, tc_rng *r, int64_t t, float *x) {
    const int64_t k = a->k;
    double *z = tc_xmalloc((size_t)k * sizeof(double));
    for (int64_t s = 0; s < t; ++s) {
        for (int64_t i = 0; i < k; ++i) z[i] = tc_rng_normal(r);
        for (int64_t j = 0; j < k; ++j) {
            double v = 0;
            for (int64_t i = 0; i < k; ++i) v += z[i] * a->mix[i * k + j];
            x[s * k + j] = a->dead[j] ? 0.0f : (float)(v * a->scale[j] + a->mean[j]);
        }
    }
    free(z);
}

void synth_weight(tc_rng *r, int64_t n, int64_t k, float *w) {
    for (int64_t i = 0; i < n * k; ++i) w[i] = (float)(0.02 * tc_rng_normal(r));
    const int64_t n_out = k / 96 > 2 ? k / 96 : 2;
    for (int64_t o = 0; o < n_out; ++o) {
        const int64_t c = (int64_t)(tc_rng_u64(r) % (uint64_t)k);
        for (int64_t i = 0; i < n; ++i) w[i * k + c] *= 8.0f;
    }
}
