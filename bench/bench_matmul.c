/* Quantized matmul speed: gptq_matmul_q4 for decode (M = 1, a GEMV) and prefill (M = 512)
 * against an fp32 GEMM of the same dequantized weights, all in the same run.
 *
 *   bench_matmul [--backend cpu|vulkan|cuda|auto] [--quick] [--bits B] [NxK]
 *
 * Default 4096x4096, 4 bits, group 128 (weights from round-to-nearest: the kernel's speed
 * does not depend on how the codes were chosen). Times are medians. GEMV bandwidth counts
 * the bytes the kernel must read at least once: packed codes, scales and zeros, x; it is
 * compared with a STREAM-style read bandwidth (all threads summing a 512 MiB buffer)
 * measured in the same run. Note that a matrix smaller than the last-level cache is read
 * partly from cache after the first call. The fp32 baseline is OpenBLAS (sgemv / sgemm on
 * the dequantized weights) when built with it, else bench_util's plain blocked product;
 * for OpenBLAS's auto-detected kernel run `env -u OPENBLAS_CORETYPE build/bench/bench_matmul`. */
#include "bench_blas.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxReps = 64 };

/* Median seconds of one gptq_matmul_q4 call (after a warm-up). */
static double time_q(gptq_ctx *ctx, gptq_qlayer *q, const float *x, int64_t m, int64_t k,
                     float *y, int reps) {
    gptq_matrix xm = {x, GPTQ_DTYPE_F32, m, k, 0};
    bench_check(gptq_matmul_q4(ctx, q, &xm, y, 0), ctx, "gptq_matmul_q4 (warm-up)");
    double t[kMaxReps];
    for (int r = 0; r < reps; ++r) {
        const double t0 = bench_now();
        bench_check(gptq_matmul_q4(ctx, q, &xm, y, 0), ctx, "gptq_matmul_q4");
        t[r] = bench_now() - t0;
    }
    return bench_median(t, reps);
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

int main(int argc, char **argv) {
    int64_t n = 4096, k = 4096;
    int bits = 4, quick = 0;
    for (int i = 1; i < argc; ++i) {
        long long a, b;
        char tail;
        if (!strcmp(argv[i], "--quick")) quick = 1, n = 512, k = 512;
        else if (!strcmp(argv[i], "--backend")) ++i;
        else if (!strcmp(argv[i], "--bits") && i + 1 < argc) bits = atoi(argv[++i]);
        else if (sscanf(argv[i], "%lldx%lld%c", &a, &b, &tail) == 2 && a > 0 && b > 0) n = a, k = b;
        else {
            fprintf(stderr, "usage: %s [--backend B] [--quick] [--bits B] [NxK]\n", argv[0]);
            return 2;
        }
    }
    const int64_t m_gemm = quick ? 64 : 512;
    const int reps = quick ? 2 : 10, threads = bench_threads();

    gptq_ctx *ctx = bench_ctx(bench_backend_arg(argc, argv));
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
    bench_check(gptq_qlayer_dequantize(q, wd, (size_t)(n * k)), ctx, "gptq_qlayer_dequantize");
    gptq_qlayer_info info = {.struct_size = sizeof info};
    bench_check(gptq_qlayer_get_info(q, &info), ctx, "gptq_qlayer_get_info");

    const double read_gbps = bench_read_gbps((size_t)(quick ? 32 : 512) << 20, threads);
    printf("bench_matmul: libgptq %s, %s; W %lld x %lld, %d-bit g128; fp32 baseline %s; "
           "read bandwidth (%d threads) %.1f GB/s\n",
           gptq_version_string(), gptq_ctx_device_name(ctx), (long long)n, (long long)k, bits,
           bench_blas_available() ? bench_blas_name() : "bench_gemm_nt (no OpenBLAS)",
           threads, read_gbps);

    /* Decode: GEMV, one token and a batch of 8 (the qgemv kernel's range). */
    const double qbytes = (double)info.qweight_rows * (double)info.qweight_cols * 4.0 +
                          (double)info.n_groups * (double)n * 8.0 + (double)k * 4.0;
    const double fbytes = (double)n * (double)k * 4.0;
    for (int64_t m = 1; m <= 8; m += 7) {
        const double tq = time_q(ctx, q, x, m, k, y, reps * 5);
        const double tf = time_f32(x, wd, yr, m, n, k, threads, reps * 5);
        printf("GEMV  M=%-4lld q%d %9.3f ms %6.1f GB/s (%3.0f%% of read bw) | fp32 %9.3f ms "
               "%6.1f GB/s | speed-up %.2fx\n",
               (long long)m, bits, tq * 1e3, qbytes / tq * 1e-9,
               100.0 * qbytes / tq * 1e-9 / read_gbps, tf * 1e3, fbytes / tf * 1e-9, tf / tq);
    }

    /* Prefill: GEMM. */
    const double tqm = time_q(ctx, q, x, m_gemm, k, y, reps);
    const double tfm = time_f32(x, wd, yr, m_gemm, n, k, threads, reps);
    const double flops = 2.0 * (double)m_gemm * (double)n * (double)k;
    printf("GEMM  M=%-4lld q%d %9.3f ms %6.1f GFLOP/s             | fp32 %9.3f ms "
           "%6.1f GFLOP/s | speed-up %.2fx\n",
           (long long)m_gemm, bits, tqm * 1e3, flops / tqm * 1e-9, tfm * 1e3,
           flops / tfm * 1e-9, tfm / tqm);

    /* Not a correctness test (that is tests/test_matmul), but a wrong kernel would make
     * every number above meaningless: say so. */
    double err = 0.0, ref = 0.0;
    for (int64_t i = 0; i < m_gemm * n; ++i) {
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
