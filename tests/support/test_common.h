/* Helpers shared by the API-level tests: backend selection from argv, a seeded RNG,
 * half/bfloat16 conversions and small array utilities. Independent of src/. */
#ifndef GPTQ_TEST_COMMON_H
#define GPTQ_TEST_COMMON_H

#include <gptq/gptq.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CTest's SKIP_RETURN_CODE: the requested backend is not usable on this machine. */
#define TC_EXIT_SKIP 77

/* Backend chosen on the command line (argv[1]: cpu, vulkan, cuda; default cpu). */
extern gptq_backend tc_backend;

/* Parses argv[1]; exits 77 (skip) if the backend is not available, 2 on a bad name.
 * Environment: GPTQ_TEST_FILTER / GPTQ_TEST_SKIP select cmocka tests by name pattern. */
void tc_init(int argc, char **argv);

/* A context on tc_backend; fails the current cmocka test if creation fails. */
gptq_ctx *tc_ctx(void);

/* Deterministic generator (splitmix64), one per test so tests do not depend on order. */
typedef struct tc_rng {
    uint64_t s;
} tc_rng;
void tc_rng_seed(tc_rng *r, uint64_t seed);
uint64_t tc_rng_u64(tc_rng *r);
double tc_rng_uniform(tc_rng *r); /* [0, 1) */
double tc_rng_normal(tc_rng *r);
int tc_rng_int(tc_rng *r, int lo, int hi); /* [lo, hi] */

/* IEEE binary16 / bfloat16 <-> fp32, round to nearest even (written for the tests, not
 * shared with the library so that a conversion bug cannot hide on both sides). */
float tc_f16_to_f32(uint16_t h);
uint16_t tc_f32_to_f16(float f);
float tc_bf16_to_f32(uint16_t h);
uint16_t tc_f32_to_bf16(float f);

/* Allocation that fails the test run instead of returning NULL. */
void *tc_xmalloc(size_t bytes);
void *tc_xcalloc(size_t n, size_t size);

/* Random permutation of 0..n-1. */
void tc_random_perm(tc_rng *r, int32_t *perm, int64_t n);

/* A gptq_matrix over fp32 data. */
gptq_matrix tc_matrix_f32(const float *data, int64_t rows, int64_t cols, int64_t stride);

#ifdef __cplusplus
}
#endif

#endif
