/*
 * Quantize one linear layer with GPTQ (4-bit, group size 128) through the public C API,
 * export it in the GPTQ checkpoint layout and run a quantized matmul.
 *
 *   cc quantize_layer.c $(pkg-config --cflags --libs gptq) -lm -o quantize_layer
 *
 * Exit status 0 when the quantized layer reproduces the fp32 layer's outputs closely.
 */
#include <gptq/gptq.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 256, K = 512, TOKENS = 2048, BATCH = 512, M = 4 };

#define CHECK(call)                                                                    \
    do {                                                                               \
        gptq_status s_ = (call);                                                       \
        if (s_ != GPTQ_OK) {                                                           \
            fprintf(stderr, "%s failed: %s: %s\n", #call, gptq_status_string(s_),      \
                    gptq_last_error(ctx));                                             \
            goto done;                                                                 \
        }                                                                              \
    } while (0)

/* Deterministic standard normal numbers (xorshift + Box-Muller). */
static float randn(unsigned long long *s) {
    double u[2];
    for (int i = 0; i < 2; ++i) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        u[i] = ((*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

/* Activations with correlated neighbouring features, as real hidden states have: this is
 * what gives GPTQ an advantage over rounding each weight on its own. */
static void make_activations(float *x, int rows, unsigned long long *seed) {
    for (int t = 0; t < rows; ++t) {
        float prev = 0.0f;
        for (int j = 0; j < K; ++j) {
            prev = 0.8f * prev + 0.6f * randn(seed);
            x[t * K + j] = prev * (1.0f + (float)(j % 7));  /* uneven feature scales */
        }
    }
}

int main(void) {
    int rc = 1;
    unsigned long long seed = 42;
    gptq_ctx *ctx = NULL;
    gptq_hessian *hessian = NULL;
    gptq_qlayer *layer = NULL;
    float *w = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * BATCH * K);
    float *y = malloc(sizeof(float) * M * N);
    gptq_qlayer_info info = {.struct_size = sizeof info};
    int32_t *qweight = NULL, *qzeros = NULL, *g_idx = NULL;
    uint16_t *scales = NULL;
    if (!w || !x || !y) goto done;

    CHECK(gptq_ctx_create(NULL, &ctx));  /* default: best available backend */
    printf("libgptq %s on %s\n", gptq_version_string(), gptq_ctx_device_name(ctx));

    for (int i = 0; i < N * K; ++i) w[i] = 0.02f * randn(&seed);

    /* 1. Hessian of the layer's inputs, accumulated over calibration batches. */
    CHECK(gptq_hessian_create(ctx, K, &hessian));
    for (int done_tokens = 0; done_tokens < TOKENS; done_tokens += BATCH) {
        make_activations(x, BATCH, &seed);
        gptq_matrix xb = {x, GPTQ_DTYPE_F32, BATCH, K, 0};
        CHECK(gptq_hessian_add(hessian, &xb));
    }

    /* 2. GPTQ: 4 bits, groups of 128 input columns, act-order. */
    gptq_quant_params qp;
    gptq_quant_params_init(&qp);
    qp.bits = 4;
    qp.group_size = 128;
    qp.desc_act = 1;
    qp.layer_name = "example.linear";
    gptq_quant_report report = {.struct_size = sizeof report};
    gptq_matrix wm = {w, GPTQ_DTYPE_F32, N, K, 0};
    CHECK(gptq_quantize_layer(ctx, &qp, &wm, hessian, &layer, &report));
    printf("quantized %dx%d in %.3f s: relative output error %.5f (damp %.3f)\n", N, K,
           report.seconds, report.rel_output_error, report.damp_used);

    /* 3. Export the checkpoint tensors (what a .safetensors file would hold). */
    CHECK(gptq_qlayer_get_info(layer, &info));
    size_t nq = (size_t)(info.qweight_rows * info.qweight_cols);
    size_t nz = (size_t)(info.qzeros_rows * info.qzeros_cols);
    size_t ns = (size_t)(info.scales_rows * info.scales_cols);
    qweight = malloc(nq * sizeof *qweight);
    qzeros = malloc(nz * sizeof *qzeros);
    scales = malloc(ns * sizeof *scales);
    g_idx = malloc((size_t)info.g_idx_len * sizeof *g_idx);
    if (!qweight || !qzeros || !scales || !g_idx) goto done;
    CHECK(gptq_qlayer_get_qweight(layer, qweight, nq));
    CHECK(gptq_qlayer_get_qzeros(layer, GPTQ_ZEROS_V2, qzeros, nz));
    CHECK(gptq_qlayer_get_scales_f16(layer, scales, ns));
    CHECK(gptq_qlayer_get_g_idx(layer, g_idx, (size_t)info.g_idx_len));
    printf("qweight [%lld, %lld] int32, qzeros [%lld, %lld] int32, scales [%lld, %lld] fp16, "
           "g_idx [%lld] int32\n",
           (long long)info.qweight_rows, (long long)info.qweight_cols,
           (long long)info.qzeros_rows, (long long)info.qzeros_cols,
           (long long)info.scales_rows, (long long)info.scales_cols, (long long)info.g_idx_len);

    /* 4. Quantized matmul y = x W_q^T, compared with the fp32 layer. */
    make_activations(x, M, &seed);
    gptq_matrix xm = {x, GPTQ_DTYPE_F32, M, K, 0};
    CHECK(gptq_matmul_q4(ctx, layer, &xm, y, 0));
    double err = 0.0, ref = 0.0;
    for (int i = 0; i < M; ++i)
        for (int n = 0; n < N; ++n) {
            double exact = 0.0;
            for (int k = 0; k < K; ++k) exact += (double)x[i * K + k] * w[n * K + k];
            err += (y[i * N + n] - exact) * (y[i * N + n] - exact);
            ref += exact * exact;
        }
    printf("matmul: relative error vs fp32 layer %.5f\n", sqrt(err / ref));
    /* 4-bit g128 GPTQ on this data gives about 0.05; 0.2 would mean something broke. */
    rc = sqrt(err / ref) < 0.2 ? 0 : 1;

done:
    free(qweight), free(qzeros), free(scales), free(g_idx);
    free(w), free(x), free(y);
    gptq_qlayer_destroy(layer);
    gptq_hessian_destroy(hessian);
    gptq_ctx_destroy(ctx);
    return rc;
}
