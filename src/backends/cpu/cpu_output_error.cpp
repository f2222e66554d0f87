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

// Stacked rows (W's and D's) per pass: as many as fit in about 32 MiB, so that the GEMM
// packs each panel of H once for many rows, and at least two of its row blocks.
constexpr int64_t kPassElems = int64_t(1) << 23;
constexpr int64_t kMinRows = 192;
// Columns of t per GEMM. Column block [c0, c1) needs x[:, 0:c1) only; the zeros below the
// diagonal inside the block cost a share c/k of extra flops.
constexpr int64_t kCols = 256;

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

// Adds x_r^T H x_r restricted to columns [c0, c1) to form[r] for every row r of x, from
// t = x[:, 0:c1) * hu[0:c1, c0:c1) ([rows x (c1 - c0)]) and diag(H), in double.
void add_quadratic_forms(const float *x, int64_t rows, int64_t k, const float *t, int64_t c0,
                         int64_t c1, const float *diag, double *form, ThreadPool *pool) {
    const int64_t w = c1 - c0;
    for_each_row(rows, pool, [&](int64_t r) {
        const float *xr = x + r * k, *tr = t + r * w;
        double s = 0.0;
        for (int64_t i = c0; i < c1; ++i) {
            const double xi = xr[i];
            s += xi * (double(diag[i]) * xi + 2.0 * double(tr[i - c0]));
        }
        form[r] += s;
    });
}

} // namespace

double relative_output_error(const QLayer &q, const float *w, const HessianState &hs,
                             ThreadPool *pool) {
    const int64_t n = q.n, k = q.k;
    std::vector<float> hu(size_t(k) * size_t(k)), diag(static_cast<size_t>(k));
    hs.read_scaled(hu.data());
    for_each_row(k, pool, [&](int64_t i) {
        diag[size_t(i)] = hu[size_t(i * k + i)];
        std::fill(hu.begin() + i * k, hu.begin() + i * k + i + 1, 0.0f);
    });
    const int64_t pass_rows = std::min(n, std::max(kMinRows, kPassElems / k / 2));
    // x: rows of W, then the same rows of D; t: one column block of x * hu; form[r] =
    // x_r^T H x_r, summed over column blocks in order, then over rows in row order, so that
    // the thread count cannot change the result.
    std::vector<float> x(size_t(2 * pass_rows * k)), t(size_t(2 * pass_rows * kCols));
    std::vector<double> form(size_t(2 * pass_rows));
    double num = 0.0, den = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += pass_rows) {
        const int64_t rows = std::min(pass_rows, n - r0);
        for_each_row(rows, pool, [&](int64_t r) {
            std::copy(w + (r0 + r) * k, w + (r0 + r + 1) * k, x.begin() + r * k);
            output_error_rows(q, w, r0 + r, 1, x.data() + (rows + r) * k);
        });
        std::fill(form.begin(), form.end(), 0.0);
        for (int64_t c0 = 0; c0 < k; c0 += kCols) {
            const int64_t c1 = std::min(k, c0 + kCols);
            sgemm(false, false, 2 * rows, c1 - c0, c1, 1.0f, x.data(), k, hu.data() + c0, k,
                  0.0f, t.data(), c1 - c0, pool);
            add_quadratic_forms(x.data(), 2 * rows, k, t.data(), c0, c1, diag.data(),
                                form.data(), pool);
        }
        for (int64_t r = 0; r < rows; ++r) den += form[size_t(r)];
        for (int64_t r = rows; r < 2 * rows; ++r) num += form[size_t(r)];
    }
    return output_error_ratio(num, den);
}

} // namespace gptq::cpu
