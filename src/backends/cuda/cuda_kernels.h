// Host-callable launchers of the CUDA backend's kernels. Plain C++ signatures so that the
// backend class (compiled by the host compiler) never sees CUDA syntax. All pointers are
// device pointers; all matrices are row-major. Launchers run on the legacy default stream,
// so consecutive launches and cudaMemcpy calls are ordered; they check launch errors and
// throw gptq::Error.
#pragma once

#include <gptq/gptq.h>

#include <cstdint>

namespace gptq::cuda {

// ---------------------------------------------------------------- elementwise (cuda_convert.cu)

// dst[i] = float(src[i]) for i < count; src is F16 or BF16 bits.
void half_to_f32(const uint16_t *src, gptq_dtype dtype, int64_t count, float *dst);

// ---------------------------------------------------------------- dense linear algebra (cuda_linalg.cu)

// C[i][j] = beta * C[i][j] + alpha * sum_p A(i,p) * B(p,j), for i < m, j < n, p < depth,
// where A(i,p) = a[i*a_si + p*a_sp] and B(p,j) = b[p*b_sp + j*b_sj]. beta == 0 does not
// read C (it may hold garbage). The strides express transposes without copies.
void gemm(int64_t m, int64_t n, int64_t depth, float alpha, const float *a, int64_t a_si,
          int64_t a_sp, const float *b, int64_t b_sp, int64_t b_sj, float beta, float *c,
          int64_t ldc);

// In-place lower Cholesky of the symmetric k x k matrix a (only the lower triangle is read
// and written; the strict upper triangle is left as it was). Returns false if a pivot is
// not positive and finite (the matrix is then partly overwritten). `flag` is a device int
// used as scratch.
bool cholesky_lower(float *a, int64_t k, int *flag);

// x = inverse of the lower-triangular l (k x k; l's upper triangle is ignored). x is fully
// written (upper triangle zero).
void tri_inverse_lower(const float *l, float *x, int64_t k);

// dst [cols x rows] = src [rows x cols] transposed.
void transpose(const float *src, int64_t rows, int64_t cols, float *dst);

// ---------------------------------------------------------------- GPTQ (cuda_quantize.cu)

// Quantizer settings the device code needs (docs/gptq-reference.md §4).
struct QuantizerConfig {
    int maxq;
    int sym;
    int mse;
    int mse_steps;             // shrink factors tried (core/quantizer.h mse_shrink_steps)
    const float *mse_shrink;   // [mse_steps] device copy of core's mse_shrink_factors
    float mse_norm;
};

// For every row r < n and group g < n_groups: parameters of the row slice
// wt[(g*group_cols + c) * n + r], c < min(group_cols, k - g*group_cols) (wt is W transposed,
// [k][n]). Writes scales[g*n + r], zeros[g*n + r].
void find_group_params(const float *wt, int64_t n, int64_t k, int64_t group_cols,
                       int64_t n_groups, const QuantizerConfig &cfg, float *scales,
                       float *zeros);

// Inputs of one block of the GPTQ column loop (docs/gptq-reference.md §3), all device pointers. The
// parameters of every group the block uses are already in scales/zeros.
struct BlockArgs {
    float *w1;           // [i2-i1][n]: the block's working copy, updated in place
    float *err1;         // [i2-i1][n]: out, scaled errors (w - q) / d
    const float *u;      // [k][k]: upper Cholesky factor of H^-1
    uint8_t *codes;      // [k][n]: out, codes by permuted column
    const float *scales; // [n_groups][n]
    const float *zeros;  // [n_groups][n]
    const int32_t *group_of; // [k]: group (row of scales/zeros) of each permuted column
    double *loss;        // [n]: per-row loss, accumulated
    int64_t n, k, i1, i2;
    int maxq;
};
void quantize_block(const BlockArgs &args);

// ---------------------------------------------------------------- matmul (cuda_matmul.cu)

// y [m][n] (row stride ldy) = x [m][k] (contiguous fp32) * dequant(W)^T with W given in
// checkpoint layout: qweight [packed k][n], scales [n_groups][n] fp32, zeros [n_groups][n]
// true zero points, g_idx [k].
void dequant_matmul(const float *x, int64_t m, int64_t k, const int32_t *qweight,
                    const float *scales, const int32_t *zeros, const int32_t *g_idx,
                    int64_t n, int bits, float *y, int64_t ldy);

} // namespace gptq::cuda
