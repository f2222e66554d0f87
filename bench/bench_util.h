/* Shared helpers of the benchmarks: clock, memory, synthetic data and the fp32 baselines
 * that library timings are compared with (all measured in the same process and run). */
#ifndef GPTQ_BENCH_UTIL_H
#define GPTQ_BENCH_UTIL_H

#include <gptq/gptq.h>

#include <stddef.h>
#include <stdint.h>

double bench_now(void);           /* monotonic seconds */
double bench_peak_rss_mib(void);  /* peak resident set of this process so far */
int bench_threads(void);          /* online cores */

/* Parses "--backend cpu|vulkan|cuda|auto"; other arguments are left to the caller. */
gptq_backend bench_backend_arg(int argc, char **argv);
/* Creates a context or prints why not and exits(1). */
gptq_ctx *bench_ctx(gptq_backend backend);
/* The same with n_threads CPU threads (0 = all cores). */
gptq_ctx *bench_ctx_threads(gptq_backend backend, int n_threads);
/* Prints the failed call and exits(1). */
void bench_check(gptq_status status, gptq_ctx *ctx, const char *what);

void *bench_alloc(size_t bytes);  /* exits(1) on failure */

/* Standard normal numbers, deterministic for a seed. */
void bench_randn(float *dst, size_t count, float scale, uint64_t *seed);
/* Activations [rows x k] whose neighbouring features are correlated (AR(1), rho 0.8) and
 * have uneven scales, like hidden states: GPTQ's Hessian is then far from diagonal. */
void bench_activations(float *x, int64_t rows, int64_t k, uint64_t *seed);

/* c[m x n] = a[m x k] * b[n x k]^T, fp32, cache-blocked, rows split over `threads`
 * threads: a plain dequantize-then-multiply baseline for bench_matmul when OpenBLAS is
 * missing. Not a measure of the machine's peak (OpenBLAS is, see bench_blas.h). */
void bench_gemm_nt(const float *a, const float *b, float *c, int64_t m, int64_t n, int64_t k,
                   int threads);
/* Median of n values (reorders them). */
double bench_median(double *v, int n);
/* STREAM-style read bandwidth in GB/s: `threads` threads each sum their share of a buffer of
 * `bytes` with the widest vector loads the CPU has; best of several passes after a warm-up
 * one. A buffer larger than the last-level cache gives the DRAM rate; one the size of a
 * layer gives the rate at which a warm cache can feed a kernel that reads it repeatedly. */
double bench_read_gbps(size_t bytes, int threads);
/* How bench_read_gbps reads ("AVX-512 loads", ...), for the benches' headers. */
const char *bench_read_method(void);

#endif
