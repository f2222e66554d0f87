/* Independent, deliberately plain reference implementation of GPTQ (spec/GPTQ.md §2-§4),
 * round-to-nearest, checkpoint packing (§5) and dequantized matmul, for the tests.
 * Written from docs/gptq-reference.md only; it shares no code with src/. Unblocked: one column at a
 * time, double precision for the linear algebra, the quantizer in fp32 as docs/gptq-reference.md states.
 */
#ifndef GPTQ_TEST_NAIVE_GPTQ_H
#define GPTQ_TEST_NAIVE_GPTQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct naive_opts {
    int bits;          /* 2, 3, 4, 8 */
    int group_size;    /* -1 or >= 1 */
    int sym;
    int act_order;
    int static_groups;
    int block_size;    /* only matters for the find_params block-start rule */
    double damp_percent;
    double damp_increment; /* retry step on Cholesky failure; 0 = no retry */
    double damp_max;
    int mse;
    int mse_grid;
    float mse_maxshrink;
    float mse_norm;
} naive_opts;

/* The library defaults (gptq_quant_params_init). */
void naive_opts_default(naive_opts *o);

/* A quantized layer in unpacked form; also used to hold what the library returned. */
typedef struct tq_result {
    int64_t n, k, n_groups;
    int32_t *codes;  /* [n x k], natural column order */
    float *q;        /* [n x k] fake-quantized weight */
    float *scales;   /* [n_groups x n] */
    int32_t *zeros;  /* [n_groups x n], true zeros */
    int32_t *g_idx;  /* [k] */
    int32_t *perm;   /* [k], identity without act-order */
    double loss;
    double damp_used;
} tq_result;

void tq_result_alloc(tq_result *r, int64_t n, int64_t k, int64_t n_groups);
void tq_result_free(tq_result *r);

/* Quantizer parameters (docs/gptq-reference.md §4, with the MSE search if o->mse) of one row slice. */
void naive_find_params(const float *x, int64_t len, const naive_opts *o, float *scale,
                       int32_t *zero);
/* Integer code of x: clamp(roundEven(x / scale) + zero, 0, maxq). */
int32_t naive_code(float x, float scale, int32_t zero, int maxq);

/* GPTQ of w [n x k] with Hessian h [k x k] (before dead-column fix and damping).
 * Returns 0, or -1 if H stays non-positive-definite up to damp_max. */
int naive_gptq(const float *w, const float *h, int64_t n, int64_t k, const naive_opts *o,
               tq_result *out);

/* Round-to-nearest: natural-order groups, parameters from the caller's W. */
void naive_rtn(const float *w, int64_t n, int64_t k, const naive_opts *o, tq_result *out);

/* Packing (docs/gptq-reference.md §5). A sequence of len b-bit codes occupies naive_packed_len words:
 * ceil(len*b/32) for b = 2, 4, 8; whole 3-word runs of 32 codes for b = 3. */
int64_t naive_packed_len(int64_t len, int bits);
/* words must have room for naive_packed_len(len, bits) words; they are overwritten. */
void naive_pack_seq(const int32_t *codes, int64_t len, int bits, uint32_t *words);
int32_t naive_unpack_at(const uint32_t *words, int64_t i, int bits);

/* qweight [rows x n] from codes [n x k] (rows = naive_packed_len(k, bits)). */
void naive_pack_qweight(const int32_t *codes, int64_t n, int64_t k, int bits, int32_t *qweight);
/* qzeros [n_groups x naive_packed_len(n, bits)] from true zeros [n_groups x n]; v1 stores
 * zero - 1 (wrapping modulo 2^bits). */
void naive_pack_qzeros(const int32_t *zeros, int64_t n_groups, int64_t n, int bits, int v1,
                       int32_t *qzeros);

/* w[n, k] = scales[g, n] * (float)(codes[n, k] - zeros[g, n]), g = g_idx[k]: one fp32
 * multiply, as docs/gptq-reference.md requires. */
void naive_dequant(const int32_t *codes, const float *scales, const int32_t *zeros,
                   const int32_t *g_idx, int64_t n, int64_t k, float *w);

/* y[m, j] = sum_k x[m, k] w[j, k] in double, and abs[m, j] = sum_k |x[m, k] w[j, k]|
 * (the scale of the rounding error bound). x has row stride ldx. */
void naive_matmul(const float *x, int64_t m, int64_t k, int64_t ldx, const float *w, int64_t n,
                  double *y, double *abs_sum);

/* ||X (W - Q)^T||_F^2 / ||X W^T||_F^2 in double; x is [t x k]. */
double naive_relerr_x(const float *x, int64_t t, const float *w, const float *q, int64_t n,
                      int64_t k);
/* tr(D H D^T) / tr(W H W^T), D = W - Q, in double. */
double naive_relerr_h(const float *h, const float *w, const float *q, int64_t n, int64_t k);

#ifdef __cplusplus
}
#endif

#endif
