// Blocked dense factorisations for GPTQ's inverse Hessian factor (docs/gptq-reference.md §2.6), in place on a
// row-major n x n fp32 matrix with leading dimension lda. Each step keeps the unblocked
// diagonal-block work in double and does the bulk (panel updates) as fp32 GEMMs. Exposed for
// other backends' tests as the reference.
#pragma once

#include <cstdint>

namespace gptq::cpu {

class ThreadPool;

// A = L L^T. Reads only the lower triangle. On success the lower triangle holds L and the
// strict upper triangle is zero. Returns false (A partly overwritten) if a pivot is not
// positive or not finite, i.e. A is not numerically positive definite or holds NaN/Inf.
bool cholesky_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool);

// L (lower, strict upper zero, as cholesky_lower leaves it) -> L^-1, same layout.
// Returns false if the inverse is not finite.
bool invert_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool);

// M (lower, strict upper zero) -> the lower triangle of M^T M. The strict upper triangle is
// left unspecified (partly zero, partly mirrored values).
void lower_gram(float *a, int64_t n, int64_t lda, ThreadPool *pool);

// L from cholesky_lower -> lower triangle of (L L^T)^-1 (= L^-T L^-1); strict upper
// unspecified. Returns false if not finite.
bool cholesky_inverse_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool);

// Copies the lower triangle onto the upper one (A becomes symmetric); row blocks split over
// pool when given.
void mirror_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool = nullptr);

// GPTQ's factor: H (lower triangle read) -> U, upper triangular with H^-1 = U^T U, in the
// upper triangle; the strict lower triangle is zero. U is the inverse of the upper factor of
// H = R R^T (cholesky_lower and invert_lower on the reversed H), the same matrix as the
// reference's Cholesky, inverse and upper Cholesky of the inverse, for half the flops.
// Returns false if a step fails (not positive definite / not finite); A is then garbage.
bool gptq_inverse_factor(float *a, int64_t n, int64_t lda, ThreadPool *pool);

// The same from the lower triangle of J H J (J reverses the order: element (i, j) of the
// input is H[n-1-i][n-1-j]), for callers that can write it in that order directly.
bool gptq_inverse_factor_reversed(float *a, int64_t n, int64_t lda, ThreadPool *pool);

// a := J a J (element (i, j) moves to (n-1-i, n-1-j)): swaps the lower and upper triangles.
void rotate_half_turn(float *a, int64_t n, int64_t lda, ThreadPool *pool);

} // namespace gptq::cpu
