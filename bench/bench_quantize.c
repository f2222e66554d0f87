/* GPTQ quantization time per layer size (4 bits, group 128, act-order) on synthetic
 * correlated activations, through the public API.
 *
 *   bench_quantize [--backend cpu|vulkan|cuda|auto] [--quick] [--tokens T] [SIZE...]
 *
 * SIZE is N (an N x N layer) or NxK (N outputs, K inputs); default 768 2048 4096 4096x11008.
 * --quick runs a 256 x 256 layer with few tokens (the CTest smoke run).
 * Hessian throughput counts the useful flops of one triangle, T*K*(K+1). On the CPU backend
 * the Hessian is timed twice: as it runs by default (the AMX kernel where the CPU has it) and
 * with GPTQ_CPU_NO_AMX=1 (the fp32 kernel), over the same batches.
 *
 * Baselines in the same run, when built with OpenBLAS (bench_blas.h): the Hessian against
 * OpenBLAS ssyrk over the same batches; GPTQ against the "OpenBLAS floor", the time OpenBLAS
 * takes for the dense work alone (every lazy trailing update as one sgemm, plus spotrf,
 * strtri for the inverse factor, the two steps the library takes: U is the inverse of the
 * upper Cholesky factor of H), i.e. GPTQ with a free column loop. Ratios are
 * baseline time / library time (1.00 = as fast). For OpenBLAS's auto-detected kernel run
 * `env -u OPENBLAS_CORETYPE build/bench/bench_quantize`. */
#include "bench_blas.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t n, k;
} layer_size;

static int parse_size(const char *s, layer_size *out) {
    char *end;
    long long n = strtoll(s, &end, 10), k = n;
    if (*end == 'x') k = strtoll(end + 1, &end, 10);
    if (*end != '\0' || n <= 0 || k <= 0) return 0;
    out->n = n, out->k = k;
    return 1;
}

/* OpenBLAS ssyrk over the same batches as the library's Hessian (one triangle). */
static double blas_hessian_seconds(int64_t k, int64_t tokens, int64_t batch) {
    uint64_t seed = 5;
    float *x = bench_alloc(sizeof(float) * (size_t)(batch * k));
    float *h = bench_alloc(sizeof(float) * (size_t)(k * k));
    memset(h, 0, sizeof(float) * (size_t)(k * k));
    double t = 0.0;
    for (int64_t done = 0; done < tokens; done += batch) {
        const int64_t rows = tokens - done < batch ? tokens - done : batch;
        bench_activations(x, rows, k, &seed);
        const double t0 = bench_now();
        bench_blas_syrk_lower(k, rows, x, k, h, k);
        t += bench_now() - t0;
    }
    free(x), free(h);
    return t;
}

/* OpenBLAS time for GPTQ's dense work on an n x k layer with blocks of 128 columns: the
 * trailing updates W[:, i2:] -= E U[i1:i2, i2:] and the inverse factor of an SPD matrix. */
static double blas_gptq_floor_seconds(int64_t n, int64_t k, double *t_inverse) {
    const int64_t bs = 128;
    uint64_t seed = 6;
    float *w = bench_alloc(sizeof(float) * (size_t)(n * k));
    float *u = bench_alloc(sizeof(float) * (size_t)(k * k));
    bench_randn(w, (size_t)(n * k), 0.02f, &seed);
    bench_randn(u, (size_t)(k * k), 0.1f, &seed);
    double t = 0.0;
    for (int64_t i1 = 0; i1 + bs < k; i1 += bs) {
        const int64_t i2 = i1 + bs;
        const double t0 = bench_now();
        bench_blas_sgemm(0, 0, n, k - i2, bs, -1.0f, w + i1, k, u + i1 * k + i2, k, 1.0f,
                         w + i2, k);
        t += bench_now() - t0;
    }
    /* An SPD matrix: U U^T / k + I for the random U. */
    float *a = bench_alloc(sizeof(float) * (size_t)(k * k));
    bench_blas_sgemm(0, 1, k, k, k, 1.0f / (float)k, u, k, u, k, 0.0f, a, k);
    for (int64_t i = 0; i < k; ++i) a[i * k + i] += 1.0f;
    const double t0 = bench_now();
    if (bench_blas_upper_factor_inverse(a, k) != 0)
        fprintf(stderr, "warning: spotrf/strtri failed\n");
    *t_inverse = bench_now() - t0;
    free(w), free(u), free(a);
    return t + *t_inverse;
}

/* The library's Hessian over the same batches with GPTQ_CPU_NO_AMX=1: on the CPU backend the
 * fp32 AVX-512/AVX2 kernel even where the default is the AMX one (syrk_amx.h), for an A/B in
 * one run. The variable is read on every gptq_hessian_add. */
static double hessian_no_amx_seconds(gptq_ctx *ctx, int64_t k, int64_t tokens, int64_t batch) {
    const char *prev = getenv("GPTQ_CPU_NO_AMX");
    char *saved = prev ? strdup(prev) : NULL;
    setenv("GPTQ_CPU_NO_AMX", "1", 1);
    uint64_t seed = 5;
    float *x = bench_alloc(sizeof(float) * (size_t)(batch * k));
    gptq_hessian *h = NULL;
    bench_check(gptq_hessian_create(ctx, k, &h), ctx, "gptq_hessian_create");
    double t = 0.0;
    for (int64_t done = 0; done < tokens; done += batch) {
        const int64_t rows = tokens - done < batch ? tokens - done : batch;
        bench_activations(x, rows, k, &seed);
        gptq_matrix xm = {x, GPTQ_DTYPE_F32, rows, k, 0};
        const double t0 = bench_now();
        bench_check(gptq_hessian_add(h, &xm), ctx, "gptq_hessian_add");
        t += bench_now() - t0;
    }
    gptq_hessian_destroy(h);
    free(x);
    if (saved)
        setenv("GPTQ_CPU_NO_AMX", saved, 1);
    else
        unsetenv("GPTQ_CPU_NO_AMX");
    free(saved);
    return t;
}

enum { kQuantReps = 4 };  /* the first call, then three more */

static void run(gptq_ctx *ctx, layer_size sz, int64_t tokens, int64_t batch) {
    const int64_t n = sz.n, k = sz.k;
    uint64_t seed = 1234;
    float *w = bench_alloc(sizeof(float) * (size_t)(n * k));
    float *x = bench_alloc(sizeof(float) * (size_t)(batch * k));
    bench_randn(w, (size_t)(n * k), 0.02f, &seed);

    gptq_hessian *h = NULL;
    bench_check(gptq_hessian_create(ctx, k, &h), ctx, "gptq_hessian_create");
    double t_hess = 0.0;
    for (int64_t done = 0; done < tokens; done += batch) {
        const int64_t rows = tokens - done < batch ? tokens - done : batch;
        bench_activations(x, rows, k, &seed);  /* data generation is not timed */
        gptq_matrix xm = {x, GPTQ_DTYPE_F32, rows, k, 0};
        const double t0 = bench_now();
        bench_check(gptq_hessian_add(h, &xm), ctx, "gptq_hessian_add");
        t_hess += bench_now() - t0;
    }

    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.bits = 4;
    qp.group_size = 128;
    qp.desc_act = 1;
    gptq_quant_report rep = {.struct_size = sizeof rep};
    gptq_matrix wm = {w, GPTQ_DTYPE_F32, n, k, 0};
    gptq_qlayer *q = NULL;
    /* Timed without a report, then with it: the report's relative output error costs one
     * product of W and D stacked (2N rows) with the strict upper triangle of H, about
     * 2 N K^2 flops, as much as GPTQ's own trailing updates. */
    /* The first call pays for the fresh buffers' first touch; a model quantizes layer after
     * layer, so the repeated calls' best and median are the steady state. */
    double t_calls[kQuantReps];
    for (int r = 0; r < kQuantReps; ++r) {
        const double t_start = bench_now();
        bench_check(gptq_quantize_layer(ctx, &qp, &wm, h, &q, NULL), ctx,
                    "gptq_quantize_layer");
        t_calls[r] = bench_now() - t_start;
        gptq_qlayer_destroy(q);
    }
    const double t_first = t_calls[0];
    double t_quant = t_calls[1];
    for (int r = 2; r < kQuantReps; ++r)
        if (t_calls[r] < t_quant) t_quant = t_calls[r];
    const double t_median = bench_median(t_calls + 1, kQuantReps - 1);
    double t0 = bench_now();
    bench_check(gptq_quantize_layer(ctx, &qp, &wm, h, &q, &rep), ctx, "gptq_quantize_layer");
    const double t_report = bench_now() - t0;

    const double f_hess = (double)tokens * (double)k * (double)(k + 1);
    printf("%5lld x %-5lld  hessian %7.3f s %6.1f GFLOP/s  gptq %7.3f s best, %.3f median "
           "(first call %.3f s; with report %.3f s)  rel.err %.4f  peak RSS %.0f MiB\n",
           (long long)n, (long long)k, t_hess, f_hess / t_hess * 1e-9, t_quant, t_median,
           t_first, t_report, rep.rel_output_error, bench_peak_rss_mib());
    if (gptq_ctx_backend(ctx) == GPTQ_BACKEND_CPU) {
        const double t_fp32 = hessian_no_amx_seconds(ctx, k, tokens, batch);
        printf("%13s  hessian with GPTQ_CPU_NO_AMX=1 (fp32 kernel) %7.3f s %6.1f GFLOP/s, "
               "ratio %.2f\n", "", t_fp32, f_hess / t_fp32 * 1e-9, t_fp32 / t_hess);
    }
    if (bench_blas_available()) {
        const double b_hess = blas_hessian_seconds(k, tokens, batch);
        double b_inv = 0.0;
        const double b_floor = blas_gptq_floor_seconds(n, k, &b_inv);
        printf("%13s  OpenBLAS ssyrk %7.3f s, ratio %.2f;  OpenBLAS floor %7.3f s "
               "(sgemm %.3f + inverse factor %.3f), ratio %.2f (best call)\n",
               "", b_hess, b_hess / t_hess, b_floor, b_floor - b_inv, b_inv, b_floor / t_quant);
    }
    fflush(stdout);
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    free(w), free(x);
}

int main(int argc, char **argv) {
    layer_size sizes[32];
    int n_sizes = 0, quick = 0;
    int64_t tokens = 0, batch = 256;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--backend")) {
            ++i;  /* read by bench_backend_arg */
        } else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) {
            tokens = strtoll(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            batch = strtoll(argv[++i], NULL, 10);
        } else if (n_sizes < 32 && parse_size(argv[i], &sizes[n_sizes])) {
            ++n_sizes;
        } else {
            fprintf(stderr,
                    "usage: %s [--backend B] [--quick] [--tokens T] [--batch B] [N|NxK ...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (quick && n_sizes == 0) sizes[n_sizes++] = (layer_size){256, 256};
    if (n_sizes == 0) {
        const layer_size defaults[] = {{768, 768}, {2048, 2048}, {4096, 4096}, {4096, 11008}};
        for (int i = 0; i < 4; ++i) sizes[n_sizes++] = defaults[i];
    }
    if (tokens <= 0) tokens = quick ? 512 : 4096;

    gptq_ctx *ctx = bench_ctx(bench_backend_arg(argc, argv));
    printf("bench_quantize: libgptq %s, %s; %lld calibration tokens added %lld at a time; "
           "4-bit g128 act-order; baseline %s\n",
           gptq_version_string(), gptq_ctx_device_name(ctx), (long long)tokens,
           (long long)batch, bench_blas_name());
    if (batch <= 0) batch = 256;
    for (int i = 0; i < n_sizes; ++i) run(ctx, sizes[i], tokens, batch);
    gptq_ctx_destroy(ctx);
    return 0;
}
