/*
 * Quantizes one linear layer with GPTQ on the Vulkan backend through the public C API, then
 * multiplies with the quantized layer (the decode GEMV and a batched GEMM) and compares
 * with the fp32 layer.
 *
 *   quantize_layer_vulkan [N K]      (default 256 x 512)
 *
 * Exits 77 when no Vulkan device is available (so a test harness can report "skipped").
 */
#include <gptq/gptq.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                   \
    do {                                                                              \
        gptq_status st_ = (call);                                                     \
        if (st_ != GPTQ_OK) {                                                         \
            fprintf(stderr, "%s failed: %s: %s\n", #call, gptq_status_string(st_),    \
                    gptq_last_error(ctx));                                            \
            goto done;                                                                \
        }                                                                             \
    } while (0)

/* Deterministic standard normal samples (xorshift + Box-Muller). */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;
static double uniform01(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static float normal(void) {
    return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

/* Relative error ||Y - Yref||^2 / ||Yref||^2 with Yref = X W^T in double. */
static double rel_error(const float *x, const float *w, const float *y, int m, int n, int k) {
    double num = 0.0, den = 0.0;
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double ref = 0.0;
            for (int c = 0; c < k; ++c) ref += (double)x[i * k + c] * w[j * k + c];
            num += (y[i * n + j] - ref) * (y[i * n + j] - ref);
            den += ref * ref;
        }
    return num / den;
}

int main(int argc, char **argv) {
    const int n = argc > 2 ? atoi(argv[1]) : 256;
    const int k = argc > 2 ? atoi(argv[2]) : 512;
    const int n_calib = 4 * k, m = 32;
    int rc = 1;
    gptq_ctx *ctx = NULL;
    gptq_hessian *hess = NULL;
    gptq_qlayer *q = NULL;
    float *w = malloc(sizeof(float) * (size_t)n * (size_t)k);
    float *x = malloc(sizeof(float) * (size_t)n_calib * (size_t)k);
    float *xt = malloc(sizeof(float) * (size_t)m * (size_t)k);
    float *y = malloc(sizeof(float) * (size_t)m * (size_t)n);
    if (n < 1 || k < 1 || !w || !x || !xt || !y) {
        fprintf(stderr, "bad size or out of memory\n");
        goto done;
    }

    gptq_ctx_params cp;
    gptq_ctx_params_init(&cp);
    cp.backend = GPTQ_BACKEND_VULKAN;
    if (gptq_ctx_create(&cp, &ctx) != GPTQ_OK) {
        fprintf(stderr, "no Vulkan backend here: %s\n", gptq_last_error(NULL));
        rc = 77;
        goto done;
    }
    printf("device: %s\n", gptq_ctx_device_name(ctx));

    /* A layer with a few outlier input columns, and activations whose channels differ in
     * scale: the situation where GPTQ's error feedback pays off over rounding. */
    for (int i = 0; i < n * k; ++i) w[i] = 0.02f * normal() * ((i % k) % 97 == 0 ? 8.0f : 1.0f);
    for (int t = 0; t < n_calib; ++t)
        for (int c = 0; c < k; ++c) x[t * k + c] = normal() * (1.0f + (float)(c % 13));
    for (int t = 0; t < m; ++t)
        for (int c = 0; c < k; ++c) xt[t * k + c] = normal() * (1.0f + (float)(c % 13));

    CHECK(gptq_hessian_create(ctx, k, &hess));
    for (int t0 = 0; t0 < n_calib; t0 += 512) { /* calibration arrives in batches */
        const int rows = n_calib - t0 < 512 ? n_calib - t0 : 512;
        gptq_matrix xb = {x + (size_t)t0 * k, GPTQ_DTYPE_F32, rows, k, 0};
        CHECK(gptq_hessian_add(hess, &xb));
    }

    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.bits = 4;
    qp.group_size = 128;
    qp.desc_act = 1;
    qp.layer_name = "example.linear";
    gptq_quant_report rep;
    memset(&rep, 0, sizeof rep);
    rep.struct_size = sizeof rep;
    gptq_matrix wm = {w, GPTQ_DTYPE_F32, n, k, 0};
    CHECK(gptq_quantize_layer(ctx, &qp, &wm, hess, &q, &rep));
    printf("quantized %d x %d to 4 bits (g128, act-order) in %.3f s: loss %.4g, "
           "relative output error on the calibration set %.4g, damping %.3g\n",
           n, k, rep.seconds, rep.loss, rep.rel_output_error, rep.damp_used);

    /* Decode (one token: the GEMV kernel) and a batch of 32 tokens (the GEMM kernel). */
    gptq_matrix x1 = {xt, GPTQ_DTYPE_F32, 1, k, 0};
    CHECK(gptq_matmul_q4(ctx, q, &x1, y, 0));
    printf("GEMV (m = 1):  relative error vs fp32 %.4g\n", rel_error(xt, w, y, 1, n, k));
    gptq_matrix xm = {xt, GPTQ_DTYPE_F32, m, k, 0};
    CHECK(gptq_matmul_q4(ctx, q, &xm, y, 0));
    const double err = rel_error(xt, w, y, m, n, k);
    printf("GEMM (m = %d): relative error vs fp32 %.4g\n", m, err);
    rc = err < 0.05 ? 0 : 1; /* 4-bit GPTQ keeps the output error at a few percent at most */

done:
    gptq_qlayer_destroy(q);
    gptq_hessian_destroy(hess);
    gptq_ctx_destroy(ctx);
    free(w);
    free(x);
    free(xt);
    free(y);
    return rc;
}
