/* Quantized matmul speed: gptq_matmul_q4 for decode (M = 1, a GEMV) and prefill (M = 512)
 * against an fp32 GEMM of the same dequantized weights, all in the same run.
 *
 *   bench_matmul [--backend cpu|vulkan|cuda|auto] [--quick] [--bits B] [--act-order]
 *                [--gemv-only] [--threads T] [NxK]
 *
 * Default 4096x4096, 4 bits, group 128 (weights from round-to-nearest: the kernel's speed
 * does not depend on how the codes were chosen); --act-order gives the layer a shuffled
 * g_idx (desc_act, groups of 128 scattered over K); --gemv-only skips the M = 512 GEMM;
 * --threads T runs the library, the read rates and the fp32 fallback on T threads (default:
 * all cores; OpenBLAS takes OPENBLAS_NUM_THREADS).
 *
 * Times are medians; a GEMV also prints its fastest call, which its bandwidth percentages
 * use (like with like: the read rates are best runs too). GEMV bandwidth counts the bytes
 * the kernel must read at least once: packed codes, scales and zeros, x. It is compared with
 * STREAM-style read bandwidths measured in the same run (all threads summing a buffer with
 * AVX-512/AVX2 loads, best of 5 runs): of a 512 MiB buffer (DRAM: larger than the 300 MiB
 * L3 of the machine this was written on) and of a buffer the size of the packed layer, read
 * over and over as repeated GEMV calls read the layer. A layer that fits the last-level
 * cache (4096 x 14336 at 4 bits is 33 MB with its scales) is served from it after the first
 * call, faster than DRAM: the same-size rate is the honest yardstick for it, and the fp32
 * sgemv's rate (64 MB at 4096^2) is likewise above the DRAM rate. The fp32 baseline is
 * OpenBLAS (sgemv / sgemm on the dequantized weights) when built with it, else
 * bench_util's plain blocked product; for OpenBLAS's auto-detected kernel run
 * `env -u OPENBLAS_CORETYPE build/bench/bench_matmul`. */
#include "bench_blas.h"
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxReps = 64 };

/* Median seconds of one gptq_matmul_q4 call (after a warm-up); *best gets the fastest call
 * when not NULL. */
static double time_q(gptq_ctx *ctx, gptq_qlayer *q, const float *x, int64_t m, int64_t k,
                     float *y, int reps, double *best) {
    gptq_matrix xm = {x, GPTQ_DTYPE_F32, m, k, 0};
    bench_check(gptq_matmul_q4(ctx, q, &xm, y, 0), ctx, "gptq_matmul_q4 (warm-up)");
    double t[kMaxReps];
    for (int r = 0; r < reps; ++r) {
        const double t0 = bench_now();
        bench_check(gptq_matmul_q4(ctx, q, &xm, y, 0), ctx, "gptq_matmul_q4");
        t[r] = bench_now() - t0;
    }
    const double med = bench_median(t, reps);  /* sorts t */
    if (best) *best = t[0];
    return med;
}

/* Median seconds of y = x w^T in fp32: OpenBLAS if present, else bench_gemm_nt. */
static double time_f32(const float *x, const float *w, float *y, int64_t m, int64_t n,
                       int64_t k, int threads, int reps) {
    double t[kMaxReps];
    for (int r = 0; r < reps; ++r) {
        const double t0 = bench_now();
        if (!bench_blas_available()) bench_gemm_nt(x, w, y, m, n, k, threads);
        else if (m == 1) bench_blas_sgemv(w, x, y, n, k);
        else bench_blas_sgemm(0, 1, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
        t[r] = bench_now() - t0;
    }
    return bench_median(t, reps);
}

/* The same codes, scales and zeros with an act-order g_idx: groups of 128 columns scattered
 * over K by a random permutation (as GPTQ's desc_act leaves them). Replaces q. */
static gptq_qlayer *shuffle_groups(gptq_ctx *ctx, gptq_qlayer *q, uint64_t *seed) {
    gptq_qlayer_info info = {.struct_size = sizeof info};
    bench_check(gptq_qlayer_get_info(q, &info), ctx, "gptq_qlayer_get_info");
    const size_t nw = (size_t)(info.qweight_rows * info.qweight_cols),
                 nz = (size_t)(info.qzeros_rows * info.qzeros_cols),
                 ns = (size_t)(info.scales_rows * info.scales_cols), k = (size_t)info.k;
    int32_t *qw = bench_alloc(nw * 4), *qz = bench_alloc(nz * 4), *g = bench_alloc(k * 4);
    int32_t *perm = bench_alloc(k * 4);
    uint16_t *sc = bench_alloc(ns * 2);
    bench_check(gptq_qlayer_get_qweight(q, qw, nw), ctx, "gptq_qlayer_get_qweight");
    bench_check(gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, qz, nz), ctx, "gptq_qlayer_get_qzeros");
    bench_check(gptq_qlayer_get_scales_f16(q, sc, ns), ctx, "gptq_qlayer_get_scales_f16");
    for (size_t i = 0; i < k; ++i) perm[i] = (int32_t)i;
    for (size_t i = k; i > 1; --i) {  /* Fisher-Yates */
        float u;
        bench_randn(&u, 1, 1.0f, seed);
        const size_t j = (size_t)(fabsf(u) * 1e6f) % i;
        const int32_t t = perm[i - 1];
        perm[i - 1] = perm[j], perm[j] = t;
    }
    for (size_t i = 0; i < k; ++i) g[perm[i]] = (int32_t)(i / (size_t)info.group_size);
    gptq_packed_layer p = {.struct_size = sizeof p, .n = info.n, .k = info.k, .bits = info.bits,
                           .group_size = info.group_size, .desc_act = 1,
                           .zeros_format = GPTQ_ZEROS_V2, .qweight = qw, .qzeros = qz,
                           .scales = sc, .scales_dtype = GPTQ_DTYPE_F16, .g_idx = g};
    gptq_qlayer *out = NULL;
    bench_check(gptq_qlayer_from_packed(ctx, &p, &out), ctx, "gptq_qlayer_from_packed");
    gptq_qlayer_destroy(q);
    free(qw), free(qz), free(g), free(perm), free(sc);
    return out;
}

int main(int argc, char **argv) {
    int64_t n = 4096, k = 4096;
    int bits = 4, quick = 0, act_order = 0, gemv_only = 0, threads = bench_threads();
    for (int i = 1; i < argc; ++i) {
        long long a, b;
        char tail;
        if (!strcmp(argv[i], "--quick")) quick = 1, n = 512, k = 512;
        else if (!strcmp(argv[i], "--backend")) ++i;
        else if (!strcmp(argv[i], "--bits") && i + 1 < argc) bits = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--act-order")) act_order = 1;
        else if (!strcmp(argv[i], "--gemv-only")) gemv_only = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (sscanf(argv[i], "%lldx%lld%c", &a, &b, &tail) == 2 && a > 0 && b > 0) n = a, k = b;
        else {
            fprintf(stderr, "usage: %s [--backend B] [--quick] [--bits B] [--act-order] "
                            "[--gemv-only] [--threads T] [NxK]\n", argv[0]);
            return 2;
        }
    }
    const int64_t m_gemm = quick ? 64 : 512;
    if (threads < 1) threads = 1;
    const int reps = quick ? 2 : 10;

    gptq_ctx *ctx = bench_ctx_threads(bench_backend_arg(argc, argv), threads);
    uint64_t seed = 99;
    float *w = bench_alloc(sizeof(float) * (size_t)(n * k));
    float *wd = bench_alloc(sizeof(float) * (size_t)(n * k));
    float *x = bench_alloc(sizeof(float) * (size_t)(m_gemm * k));
    float *y = bench_alloc(sizeof(float) * (size_t)(m_gemm * n));
    float *yr = bench_alloc(sizeof(float) * (size_t)(m_gemm * n));
    bench_randn(w, (size_t)(n * k), 0.02f, &seed);
    bench_randn(x, (size_t)(m_gemm * k), 1.0f, &seed);

    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.bits = bits;
    qp.group_size = 128;
    gptq_matrix wm = {w, GPTQ_DTYPE_F32, n, k, 0};
    gptq_qlayer *q = NULL;
    bench_check(gptq_quantize_rtn(ctx, &qp, &wm, &q), ctx, "gptq_quantize_rtn");
    if (act_order) q = shuffle_groups(ctx, q, &seed);
    bench_check(gptq_qlayer_dequantize(q, wd, (size_t)(n * k)), ctx, "gptq_qlayer_dequantize");
    gptq_qlayer_info info = {.struct_size = sizeof info};
    bench_check(gptq_qlayer_get_info(q, &info), ctx, "gptq_qlayer_get_info");

    /* Decode: GEMV, one token and a batch of 8 (the qgemv kernel's range). */
    const double qbytes = (double)info.qweight_rows * (double)info.qweight_cols * 4.0 +
                          (double)info.n_groups * (double)n * 8.0 + (double)k * 4.0;
    const double fbytes = (double)n * (double)k * 4.0;
    const double read_gbps = bench_read_gbps((size_t)(quick ? 32 : 512) << 20, threads);
    const double read_q_gbps = bench_read_gbps((size_t)qbytes, threads);
    const double read_f_gbps = bench_read_gbps((size_t)fbytes, threads);
    printf("bench_matmul: libgptq %s, %s; W %lld x %lld, %d-bit g128%s; fp32 baseline %s\n"
           "read bandwidth (%d threads, %s, best of 5 runs): %.1f GB/s from %d MiB (DRAM), "
           "%.1f GB/s from %.1f MB (the packed layer's size), %.1f GB/s from %.1f MB (fp32 W)\n",
           gptq_version_string(), gptq_ctx_device_name(ctx), (long long)n, (long long)k, bits,
           act_order ? " act-order" : "",
           bench_blas_available() ? bench_blas_name() : "bench_gemm_nt (no OpenBLAS)", threads,
           bench_read_method(), read_gbps, quick ? 32 : 512, read_q_gbps, qbytes * 1e-6,
           read_f_gbps, fbytes * 1e-6);
    for (int64_t m = 1; m <= 8; m += 7) {
        double best;
        const double tq = time_q(ctx, q, x, m, k, y, reps * 5, &best);
        const double tf = time_f32(x, wd, yr, m, n, k, threads, reps * 5);
        /* Rates of the median call; the best call against the best read runs (like with
         * like) in the percentages. */
        printf("GEMV  M=%-4lld q%d %9.3f ms %6.1f GB/s (best %.3f ms: %3.0f%% of same-size read, "
               "%3.0f%% of DRAM) | fp32 %9.3f ms %6.1f GB/s (%3.0f%% of same-size read) | "
               "speed-up %.2fx\n",
               (long long)m, bits, tq * 1e3, qbytes / tq * 1e-9, best * 1e3,
               100.0 * qbytes / best * 1e-9 / read_q_gbps, 100.0 * qbytes / best * 1e-9 / read_gbps,
               tf * 1e3, fbytes / tf * 1e-9, 100.0 * fbytes / tf * 1e-9 / read_f_gbps, tf / tq);
    }

    /* Prefill: GEMM. */
    if (!gemv_only) {
        const double tqm = time_q(ctx, q, x, m_gemm, k, y, reps, NULL);
        const double tfm = time_f32(x, wd, yr, m_gemm, n, k, threads, reps);
        const double flops = 2.0 * (double)m_gemm * (double)n * (double)k;
        printf("GEMM  M=%-4lld q%d %9.3f ms %6.1f GFLOP/s             | fp32 %9.3f ms "
               "%6.1f GFLOP/s | speed-up %.2fx\n",
               (long long)m_gemm, bits, tqm * 1e3, flops / tqm * 1e-9, tfm * 1e3,
               flops / tfm * 1e-9, tfm / tqm);
    }

    /* Not a correctness test (that is tests/test_matmul), but a wrong kernel would make
     * every number above meaningless: say so. */
    double err = 0.0, ref = 0.0;
    const int64_t checked = gemv_only ? 8 : m_gemm;  /* rows of the last product timed */
    for (int64_t i = 0; i < checked * n; ++i) {
        err += (double)(y[i] - yr[i]) * (double)(y[i] - yr[i]);
        ref += (double)yr[i] * (double)yr[i];
    }
    const int bad = !(err <= 1e-8 * ref);
    if (bad) fprintf(stderr, "warning: quantized and fp32 results differ (rel. %.3g)\n", err / ref);
    printf("peak RSS %.0f MiB\n", bench_peak_rss_mib());

    gptq_qlayer_destroy(q);
    gptq_ctx_destroy(ctx);
    free(w), free(wd), free(x), free(y), free(yr);
    return bad;
}
