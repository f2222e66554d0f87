#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0;  /* Linux reports KiB */
}

int bench_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

gptq_backend bench_backend_arg(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (strcmp(argv[i], "--backend") != 0) continue;
        const char *b = argv[i + 1];
        if (!strcmp(b, "cpu")) return GPTQ_BACKEND_CPU;
        if (!strcmp(b, "vulkan")) return GPTQ_BACKEND_VULKAN;
        if (!strcmp(b, "cuda")) return GPTQ_BACKEND_CUDA;
        if (!strcmp(b, "auto")) return GPTQ_BACKEND_AUTO;
        fprintf(stderr, "unknown backend '%s'\n", b);
        exit(1);
    }
    return GPTQ_BACKEND_CPU;
}

gptq_ctx *bench_ctx(gptq_backend backend) { return bench_ctx_threads(backend, 0); }

gptq_ctx *bench_ctx_threads(gptq_backend backend, int n_threads) {
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = backend;
    p.n_threads = n_threads;
    gptq_ctx *ctx = NULL;
    gptq_status s = gptq_ctx_create(&p, &ctx);
    if (s != GPTQ_OK) {
        fprintf(stderr, "gptq_ctx_create(%s): %s: %s\n", gptq_backend_name(backend),
                gptq_status_string(s), gptq_last_error(NULL));
        exit(1);
    }
    return ctx;
}

void bench_check(gptq_status status, gptq_ctx *ctx, const char *what) {
    if (status == GPTQ_OK) return;
    fprintf(stderr, "%s: %s: %s\n", what, gptq_status_string(status), gptq_last_error(ctx));
    exit(1);
}

void *bench_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

static uint64_t next_u64(uint64_t *s) {  /* xorshift64* */
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

void bench_randn(float *dst, size_t count, float scale, uint64_t *seed) {
    for (size_t i = 0; i < count; i += 2) {
        const double u1 = ((double)(next_u64(seed) >> 11) + 0.5) / 9007199254740992.0;
        const double u2 = (double)(next_u64(seed) >> 11) / 9007199254740992.0;
        const double r = sqrt(-2.0 * log(u1));
        dst[i] = scale * (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < count) dst[i + 1] = scale * (float)(r * sin(6.283185307179586 * u2));
    }
}

void bench_activations(float *x, int64_t rows, int64_t k, uint64_t *seed) {
    bench_randn(x, (size_t)(rows * k), 1.0f, seed);
    for (int64_t t = 0; t < rows; ++t) {
        float *row = x + t * k;
        float prev = 0.0f;
        for (int64_t j = 0; j < k; ++j) {
            prev = 0.8f * prev + 0.6f * row[j];
            row[j] = prev * (1.0f + (float)(j % 5));
        }
    }
}

/* ---------------------------------------------------------------- fp32 GEMM baseline */

typedef struct {
    const float *a, *bt;  /* bt = b transposed, [k x n] */
    float *c;
    int64_t m0, m1, n, k;
} gemm_job;

enum { MR = 4, NR = 64, KC = 256 };

/* One thread's rows, in MR x NR tiles of c held in a local accumulator array: the inner
 * loop is an axpy over NR contiguous columns, which the compiler vectorises without
 * reassociating any sum. A KC x NR panel of bt (16 KiB) stays in cache while every row
 * tile of the thread passes over it. */
static inline __attribute__((always_inline)) void gemm_rows_body(const gemm_job *j) {
    for (int64_t p0 = 0; p0 < j->k; p0 += KC) {
        const int64_t p1 = p0 + KC < j->k ? p0 + KC : j->k;
        for (int64_t c0 = 0; c0 < j->n; c0 += NR) {
            const int64_t nr = j->n - c0 < NR ? j->n - c0 : NR;
            for (int64_t i0 = j->m0; i0 < j->m1; i0 += MR) {
                const int64_t mr = j->m1 - i0 < MR ? j->m1 - i0 : MR;
                float acc[MR][NR];
                for (int64_t r = 0; r < mr; ++r)
                    for (int64_t c = 0; c < nr; ++c)
                        acc[r][c] = p0 == 0 ? 0.0f : j->c[(i0 + r) * j->n + c0 + c];
                if (mr == MR && nr == NR) {  /* constant bounds: acc lives in registers */
                    for (int64_t p = p0; p < p1; ++p) {
                        const float *brow = j->bt + p * j->n + c0;
                        for (int r = 0; r < MR; ++r) {
                            const float av = j->a[(i0 + r) * j->k + p];
                            for (int c = 0; c < NR; ++c) acc[r][c] += av * brow[c];
                        }
                    }
                } else {
                    for (int64_t p = p0; p < p1; ++p) {
                        const float *brow = j->bt + p * j->n + c0;
                        for (int64_t r = 0; r < mr; ++r) {
                            const float av = j->a[(i0 + r) * j->k + p];
                            for (int64_t c = 0; c < nr; ++c) acc[r][c] += av * brow[c];
                        }
                    }
                }
                for (int64_t r = 0; r < mr; ++r)
                    for (int64_t c = 0; c < nr; ++c) j->c[(i0 + r) * j->n + c0 + c] = acc[r][c];
            }
        }
    }
}

/* The same loops compiled twice; the library's CPU backend also dispatches to AVX2+FMA
 * when the CPU has it, so the baseline must be allowed to as well to be a fair peak. */
static void gemm_rows_generic(const gemm_job *j) { gemm_rows_body(j); }
__attribute__((target("avx2,fma"))) static void gemm_rows_avx2(const gemm_job *j) {
    gemm_rows_body(j);
}

static void *gemm_rows(void *arg) {
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        gemm_rows_avx2(arg);
    else
        gemm_rows_generic(arg);
    return NULL;
}

/* Few rows (decode): dot products straight from b, eight partial sums for throughput. */
static void gemv_rows(const float *a, const float *b, float *c, int64_t m, int64_t n,
                      int64_t k) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t col = 0; col < n; ++col) {
            const float *ar = a + i * k, *br = b + col * k;
            float s[8] = {0};
            int64_t p = 0;
            for (; p + 8 <= k; p += 8)
                for (int u = 0; u < 8; ++u) s[u] += ar[p + u] * br[p + u];
            float t = (s[0] + s[1]) + (s[2] + s[3]) + (s[4] + s[5]) + (s[6] + s[7]);
            for (; p < k; ++p) t += ar[p] * br[p];
            c[i * n + col] = t;
        }
}

typedef struct {
    const float *a, *b;
    float *c;
    int64_t m, n0, n1, k;
} gemv_job;

static void *gemv_cols(void *arg) {
    const gemv_job *j = arg;
    /* Columns n0..n1 of c: shift b and c so gemv_rows sees a narrower problem. */
    for (int64_t i = 0; i < j->m; ++i)
        gemv_rows(j->a + i * j->k, j->b + j->n0 * j->k, j->c + i * (j->n1 - j->n0), 1,
                  j->n1 - j->n0, j->k);
    return NULL;
}

static void run_threads(void *(*fn)(void *), void *jobs, size_t job_size, int threads) {
    pthread_t tid[64];
    for (int t = 1; t < threads; ++t)
        if (pthread_create(&tid[t], NULL, fn, (char *)jobs + job_size * (size_t)t) != 0) {
            fn((char *)jobs + job_size * (size_t)t);  /* no thread: do the work here */
            tid[t] = 0;
        }
    fn(jobs);
    for (int t = 1; t < threads; ++t)
        if (tid[t]) pthread_join(tid[t], NULL);
}

void bench_gemm_nt(const float *a, const float *b, float *c, int64_t m, int64_t n, int64_t k,
                   int threads) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    if (m < MR) {
        /* Split columns; each thread writes a private slice, copied into c after. */
        if (threads > n) threads = (int)n;
        gemv_job jobs[64];
        float *tmp = bench_alloc(sizeof(float) * (size_t)(m * n));
        int64_t off = 0;
        for (int t = 0; t < threads; ++t) {
            jobs[t] = (gemv_job){a, b, tmp + off, m, n * t / threads, n * (t + 1) / threads, k};
            off += m * (jobs[t].n1 - jobs[t].n0);
        }
        run_threads(gemv_cols, jobs, sizeof jobs[0], threads);
        for (int t = 0; t < threads; ++t)
            for (int64_t i = 0; i < m; ++i)
                memcpy(c + i * n + jobs[t].n0, jobs[t].c + i * (jobs[t].n1 - jobs[t].n0),
                       sizeof(float) * (size_t)(jobs[t].n1 - jobs[t].n0));
        free(tmp);
        return;
    }
    /* Transposing b costs O(n k), negligible next to the O(m n k) product for m >= MR. */
    float *bt = bench_alloc(sizeof(float) * (size_t)(n * k));
    for (int64_t col = 0; col < n; ++col)
        for (int64_t p = 0; p < k; ++p) bt[p * n + col] = b[col * k + p];
    if (threads > (m + MR - 1) / MR) threads = (int)((m + MR - 1) / MR);
    gemm_job jobs[64];
    for (int t = 0; t < threads; ++t) {
        /* Row ranges in multiples of MR so tiles stay whole. */
        const int64_t tiles = (m + MR - 1) / MR;
        int64_t r0 = tiles * t / threads * MR, r1 = tiles * (t + 1) / threads * MR;
        jobs[t] = (gemm_job){a, bt, c, r0, r1 < m ? r1 : m, n, k};
    }
    run_threads(gemm_rows, jobs, sizeof jobs[0], threads);
    free(bt);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    const unsigned char *p;  /* 64-byte aligned */
    size_t bytes;            /* a multiple of 256 */
    int reps;                /* passes over the buffer */
    uint64_t sum;
} read_job;

/* Four independent sums over whole 64-byte lines: enough loads in flight to saturate the
 * memory system, nothing but the loads on the critical path. The widest loads the CPU
 * has are used (a scalar or SSE loop reads this VM's caches 20-50% slower than AVX-512
 * loads, so a narrow loop would understate the bandwidth the kernels can get). */
#define READ_LINES_BODY(VEC, LOAD, ADD, ZERO, REDUCE)                                   \
    read_job *j = arg;                                                                \
    VEC s0 = ZERO, s1 = ZERO, s2 = ZERO, s3 = ZERO;                                   \
    const size_t step = 256 / sizeof(VEC);                                            \
    for (int rep = 0; rep < j->reps; ++rep)                                           \
        for (size_t off = 0; off < j->bytes; off += 256) {                             \
            const VEC *v = (const VEC *)(const void *)(j->p + off);                    \
            for (size_t u = 0; u < step; u += 4)                                      \
                s0 = ADD(s0, LOAD(v + u)), s1 = ADD(s1, LOAD(v + u + 1)),             \
                s2 = ADD(s2, LOAD(v + u + 2)), s3 = ADD(s3, LOAD(v + u + 3));          \
        }                                                                             \
    j->sum = REDUCE(ADD(ADD(s0, s1), ADD(s2, s3)));                                   \
    return NULL;

static uint64_t u64_id(uint64_t v) { return v; }
static uint64_t u64_add(uint64_t a, uint64_t b) { return a + b; }
static uint64_t u64_load(const uint64_t *p) { return *p; }
static void *read_lines_scalar(void *arg) {
    READ_LINES_BODY(uint64_t, u64_load, u64_add, 0, u64_id)
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_X86_READ 1
__attribute__((target("avx2"))) static uint64_t m256_sum(__m256i v) {
    return (uint64_t)_mm256_extract_epi64(v, 0) + (uint64_t)_mm256_extract_epi64(v, 1) +
           (uint64_t)_mm256_extract_epi64(v, 2) + (uint64_t)_mm256_extract_epi64(v, 3);
}
__attribute__((target("avx2"))) static __m256i m256_load(const __m256i *p) {
    return _mm256_load_si256(p);
}
__attribute__((target("avx2"))) static __m256i m256_add(__m256i a, __m256i b) {
    return _mm256_add_epi64(a, b);
}
__attribute__((target("avx2"))) static void *read_lines_avx2(void *arg) {
    READ_LINES_BODY(__m256i, m256_load, m256_add, _mm256_setzero_si256(), m256_sum)
}
__attribute__((target("avx512f"))) static uint64_t m512_sum(__m512i v) {
    return (uint64_t)_mm512_reduce_add_epi64(v);
}
__attribute__((target("avx512f"))) static __m512i m512_load(const __m512i *p) {
    return _mm512_load_si512(p);
}
__attribute__((target("avx512f"))) static __m512i m512_add(__m512i a, __m512i b) {
    return _mm512_add_epi64(a, b);
}
__attribute__((target("avx512f"))) static void *read_lines_avx512(void *arg) {
    READ_LINES_BODY(__m512i, m512_load, m512_add, _mm512_setzero_si512(), m512_sum)
}
#endif

static void *(*read_kernel(const char **name))(void *) {
#ifdef BENCH_X86_READ
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return *name = "AVX-512 loads", read_lines_avx512;
    if (__builtin_cpu_supports("avx2")) return *name = "AVX2 loads", read_lines_avx2;
#endif
    *name = "64-bit loads";
    return read_lines_scalar;
}

const char *bench_read_method(void) {
    const char *name;
    read_kernel(&name);
    return name;
}

double bench_read_gbps(size_t bytes, int threads) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    const char *name;
    void *(*kernel)(void *) = read_kernel(&name);
    /* Every thread's share a multiple of 256 bytes and 64-byte aligned. */
    const size_t share = (bytes / (size_t)threads + 255) / 256 * 256;
    unsigned char *raw = bench_alloc(share * (size_t)threads + 64);
    unsigned char *buf = raw + (64 - (uintptr_t)raw % 64) % 64;
    for (size_t i = 0; i < share * (size_t)threads; ++i) buf[i] = (unsigned char)i;  /* touch */
    /* Each thread reads its share `reps` times per run, about 128 MiB in all (at least one
     * pass), so that starting the threads costs nothing next to the reading; six runs, the
     * first a warm-up. The best run is the rate the machine can give, as a GEMV timed over
     * many calls sees it; a median would fold in other jobs' interference on a shared
     * machine. */
    const size_t total = share * (size_t)threads;
    const int reps = total >= ((size_t)128 << 20) ? 1 : (int)(((size_t)128 << 20) / total);
    double best = 1e30;
    uint64_t sink = 0;
    for (int r = 0; r < 6; ++r) {
        read_job jobs[64];
        for (int i = 0; i < threads; ++i)
            jobs[i] = (read_job){buf + share * (size_t)i, share, reps, 0};
        const double t0 = bench_now();
        run_threads(kernel, jobs, sizeof jobs[0], threads);
        const double t = bench_now() - t0;
        if (r > 0 && t < best) best = t;
        for (int i = 0; i < threads; ++i) sink += jobs[i].sum;
    }
    volatile uint64_t keep = sink;
    (void)keep;
    free(raw);
    return (double)total * (double)reps / best * 1e-9;
}
