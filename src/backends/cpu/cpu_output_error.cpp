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

// x_r^T H x_r for each row r of x, from t = x * hu and diag(H), in double.
double quadratic_form(const float *x, const float *t, const float *diag, int64_t k) {
    double s = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        const double xi = x[i];
        s += xi * (double(diag[i]) * xi + 2.0 * double(t[i]));
    }
    return s;
}

// fn(r) for r in [0, rows), a few rows per task.
template <class F>
void for_each_row(int64_t rows, ThreadPool *pool, F &&fn) {
    const int64_t parts = pool ? std::min<int64_t>(rows, 4 * int64_t(pool->size())) : 1;
    auto task = [&](int64_t part, int) {
        int64_t b, e;
        split_range(rows, parts, part, &b, &e);
        for (int64_t r = b; r < e; ++r) fn(r);
    };
    if (pool && parts > 1)
        pool->parallel_for(parts, task);
    else
        for (int64_t part = 0; part < parts; ++part) task(part, 0);
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
    // x: rows of W, then the same rows of D; form[r] = x_r^T H x_r, summed in row order
    // below so that the thread count cannot change the result.
    std::vector<float> x(size_t(2 * kRows * k)), t(x.size());
    std::vector<double> form(size_t(2 * kRows));
    double num = 0.0, den = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += kRows) {
        const int64_t rows = std::min(kRows, n - r0);
        for_each_row(rows, pool, [&](int64_t r) {
            std::copy(w + (r0 + r) * k, w + (r0 + r + 1) * k, x.begin() + r * k);
            output_error_rows(q, w, r0 + r, 1, x.data() + (rows + r) * k);
        });
        strict_upper_product(x.data(), 2 * rows, hu.data(), k, t.data(), pool);
        for_each_row(2 * rows, pool, [&](int64_t r) {
            form[size_t(r)] = quadratic_form(x.data() + r * k, t.data() + r * k, diag.data(), k);
        });
        for (int64_t r = 0; r < rows; ++r) den += form[size_t(r)];
        for (int64_t r = rows; r < 2 * rows; ++r) num += form[size_t(r)];
    }
    return output_error_ratio(num, den);
}

} // namespace gptq::cpu
