/* GPTQ quantization time per layer size (4 bits, group 128, act-order) on synthetic
 * correlated activations, through the public API.
 *
 *   bench_quantize [--backend cpu|vulkan|cuda|auto] [--quick] [--tokens T] [SIZE...]
 *
 * SIZE is N (an N x N layer) or NxK (N outputs, K inputs); default 768 2048 4096 4096x11008.
 * --quick runs a 256 x 256 layer with few tokens (the CTest smoke run).
 * Throughput uses the nominal flop counts: Hessian 2*T*K^2, GPTQ 2*N*K^2 (column loop and
 * lazy updates) + K^3 (Cholesky, inverse, Cholesky of the inverse). */
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

/* The library's own dense fp32 rate: gptq_hessian_add computes one triangle of X^T X,
 * T*K*(K+1) useful flops. */
static double hessian_gflops(gptq_ctx *ctx, int64_t k, int64_t tokens) {
    uint64_t seed = 5;
    float *x = bench_alloc(sizeof(float) * (size_t)(tokens * k));
    bench_randn(x, (size_t)(tokens * k), 1.0f, &seed);
    gptq_hessian *h = NULL;
    bench_check(gptq_hessian_create(ctx, k, &h), ctx, "gptq_hessian_create");
    gptq_matrix xm = {x, GPTQ_DTYPE_F32, tokens, k, 0};
    double best = 1e30;
    for (int r = 0; r < 3; ++r) {
        const double t0 = bench_now();
        bench_check(gptq_hessian_add(h, &xm), ctx, "gptq_hessian_add");
        const double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    gptq_hessian_destroy(h);
    free(x);
    return (double)tokens * (double)k * (double)(k + 1) / best * 1e-9;
}

static void run(gptq_ctx *ctx, layer_size sz, int64_t tokens, double peak_gflops) {
    const int64_t n = sz.n, k = sz.k, batch = 256;
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
    const double t0 = bench_now();
    bench_check(gptq_quantize_layer(ctx, &qp, &wm, h, &q, &rep), ctx, "gptq_quantize_layer");
    const double t_quant = bench_now() - t0;

    const double f_hess = (double)tokens * (double)k * (double)(k + 1);
    const double f_quant = 2.0 * (double)n * (double)k * (double)k + (double)k * k * k;
    const double g_hess = f_hess / t_hess * 1e-9, g_quant = f_quant / t_quant * 1e-9;
    printf("%5lld x %-5lld  hessian %8.3f s %7.1f GFLOP/s (%3.0f%% of ref)  "
           "gptq %8.3f s %7.1f GFLOP/s (%3.0f%% of ref)  rel.err %.4f  peak RSS %.0f MiB\n",
           (long long)n, (long long)k, t_hess, g_hess, 100.0 * g_hess / peak_gflops, t_quant,
           g_quant, 100.0 * g_quant / peak_gflops, rep.rel_output_error, bench_peak_rss_mib());
    fflush(stdout);
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(h);
    free(w), free(x);
}

int main(int argc, char **argv) {
    layer_size sizes[32];
    int n_sizes = 0, quick = 0;
    int64_t tokens = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--backend")) {
            ++i;  /* read by bench_backend_arg */
        } else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) {
            tokens = strtoll(argv[++i], NULL, 10);
        } else if (n_sizes < 32 && parse_size(argv[i], &sizes[n_sizes])) {
            ++n_sizes;
        } else {
            fprintf(stderr, "usage: %s [--backend B] [--quick] [--tokens T] [N|NxK ...]\n",
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
    const int threads = bench_threads();
    const double gemm = bench_gemm_gflops(quick ? 256 : 1024, threads);
    /* At the largest K benchmarked (up to 4096), where the library's GEMM is fastest. */
    int64_t k_ref = 256;
    for (int i = 0; i < n_sizes; ++i)
        if (sizes[i].k > k_ref) k_ref = sizes[i].k;
    if (k_ref > 4096) k_ref = 4096;
    const double hess = hessian_gflops(ctx, k_ref, quick ? 256 : 2048);
    const double peak = gemm > hess ? gemm : hess;
    printf("bench_quantize: libgptq %s, %s; %lld calibration tokens; 4-bit g128 act-order\n",
           gptq_version_string(), gptq_ctx_device_name(ctx), (long long)tokens);
    printf("ref = best fp32 GEMM rate measured in this run (the machine's practical peak): "
           "this program's blocked GEMM on %d thread%s %.1f GFLOP/s, the library's Hessian "
           "product (a GEMM, K = %lld) %.1f GFLOP/s\n",
           threads, threads == 1 ? "" : "s", gemm, (long long)k_ref, hess);
    for (int i = 0; i < n_sizes; ++i) run(ctx, sizes[i], tokens, peak);
    gptq_ctx_destroy(ctx);
    return 0;
}
