// The CPU backend's relative output error (core/output_error.h) on its own thread pool.
//
// Both traces are sums of quadratic forms x^T H x over rows x of W and of D. H is symmetric,
// so x^T H x = sum_i x_i (H_ii x_i + 2 t_i) with t_i = sum_{j<i} x_j H_ji: only the strict
// upper triangle of H takes part in the product, half the flops of x^T (H x). The rows of W
// and of D are stacked into one operand, so each pass reads H once for both traces.
#include "backends/cpu/cpu_output_error.h"

#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"
#include "core/output_error.h"

#include <algorithm>
#include <vector>

namespace gptq::cpu {

namespace {

// Rows of W (and as many of D) per pass: 2 x 192 stacked rows are two of the GEMM's row
// blocks, so each pass splits evenly over two threads.
constexpr int64_t kRows = 192;
// Columns of t per GEMM. Column block [c0, c1) needs x[:, 0:c1) only; the zeros below the
// diagonal inside the block cost a share c/k of extra flops.
constexpr int64_t kCols = 256;

// t [rows x k] = x [rows x k] * hu, hu being H with the lower triangle and the diagonal
// zeroed: t_i = sum_{j<i} x_j H_ji.
void strict_upper_product(const float *x, int64_t rows, const float *hu, int64_t k, float *t,
                          ThreadPool *pool) {
    for (int64_t c0 = 0; c0 < k; c0 += kCols) {
        const int64_t c1 = std::min(k, c0 + kCols);
        sgemm(false, false, rows, c1 - c0, c1, 1.0f, x, k, hu + c0, k, 0.0f, t + c0, k, pool);
    }
}

// sum over rows [r0, r1) of x^T H x, from t = x * hu and diag(H), in double in row order.
double quadratic_forms(const float *x, const float *t, const float *diag, int64_t k,
                       int64_t r0, int64_t r1) {
    double s = 0.0;
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t i = 0; i < k; ++i) {
            const double xi = x[r * k + i];
            s += xi * (double(diag[i]) * xi + 2.0 * double(t[r * k + i]));
        }
    return s;
}

} // namespace

double relative_output_error(const QLayer &q, const float *w, const HessianState &hs,
                             ThreadPool *pool) {
    const int64_t n = q.n, k = q.k;
    std::vector<float> hu(size_t(k) * size_t(k)), diag(static_cast<size_t>(k));
    hs.read_scaled(hu.data());
    for (int64_t i = 0; i < k; ++i) {
        diag[size_t(i)] = hu[size_t(i * k + i)];
        std::fill(hu.begin() + i * k, hu.begin() + i * k + i + 1, 0.0f);
    }
    // x: rows of W, then the same rows of D.
    std::vector<float> x(size_t(2 * kRows * k)), t(x.size());
    double num = 0.0, den = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += kRows) {
        const int64_t rows = std::min(kRows, n - r0);
        std::copy(w + r0 * k, w + (r0 + rows) * k, x.begin());
        output_error_rows(q, w, r0, rows, x.data() + rows * k);
        strict_upper_product(x.data(), 2 * rows, hu.data(), k, t.data(), pool);
        den += quadratic_forms(x.data(), t.data(), diag.data(), k, 0, rows);
        num += quadratic_forms(x.data(), t.data(), diag.data(), k, rows, 2 * rows);
    }
    return output_error_ratio(num, den);
}

} // namespace gptq::cpu
