/* The test helpers that need no libgptq (random numbers, half-precision conversions,
 * checked allocation), so the safetensors reader can link them without the library. */
#include "test_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tc_rng_seed(tc_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint64_t tc_rng_u64(tc_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tc_rng_uniform(tc_rng *r) { return (double)(tc_rng_u64(r) >> 11) * 0x1.0p-53; }

double tc_rng_normal(tc_rng *r) {
    /* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
    const double u1 = 1.0 - tc_rng_uniform(r);
    const double u2 = tc_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

int tc_rng_int(tc_rng *r, int lo, int hi) {
    return lo + (int)(tc_rng_u64(r) % (uint64_t)(hi - lo + 1));
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float tc_f16_to_f32(uint16_t h) {
    const int sign = (h >> 15) & 1;
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = ldexp((double)mant, -24); /* subnormal: mant * 2^-14 / 1024 */
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp(1024.0 + mant, exp - 25);
    return (float)(sign ? -v : v);
}

uint16_t tc_f32_to_f16(float f) {
    /* Search-free construction through double arithmetic: scale to an integer mantissa and
     * let rint() do the round-half-even. */
    const uint16_t sign = (f32_bits(f) >> 16) & 0x8000u;
    const double a = fabs((double)f);
    if (isnan(f)) return sign | 0x7e00u;
    if (a >= 65520.0) return sign | 0x7c00u; /* rounds past the largest half */
    if (a < ldexp(1.0, -14)) {                 /* subnormal range: units of 2^-24 */
        const double m = rint(a * ldexp(1.0, 24));
        return sign | (uint16_t)m; /* m == 1024 is the smallest normal: still correct */
    }
    int e;
    frexp(a, &e); /* a = f * 2^e, f in [0.5, 1) */
    double m = rint(ldexp(a, 11 - e)); /* 11 significant bits */
    if (m >= 2048.0) {
        m /= 2.0;
        e += 1;
    }
    const int hexp = e - 1 + 15;
    if (hexp >= 31) return sign | 0x7c00u;
    return sign | (uint16_t)(hexp << 10) | ((uint16_t)m & 0x3ffu);
}

float tc_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t tc_f32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40u);
    const uint32_t lsb = (u >> 16) & 1u;
    return (uint16_t)((u + 0x7fffu + lsb) >> 16);
}

void *tc_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        abort();
    }
    return p;
}

void *tc_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    return p;
}

void tc_random_perm(tc_rng *r, int32_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; ++i) perm[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; --i) {
        const int64_t j = (int64_t)(tc_rng_u64(r) % (uint64_t)(i + 1));
        const int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
