// The CPU backend's relative output error (core/output_error.h): row blocks of W and of D
// against H with the backend's GEMM on its own thread pool.
#include "backends/cpu/cpu_output_error.h"

#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"
#include "core/output_error.h"

#include <algorithm>
#include <vector>

namespace gptq::cpu {

namespace {

constexpr int64_t kRows = 64;  // rows of W (and of D) per GEMM against H

// Sum over rows r of x_r^T H x_r for x [rows x k], using t [rows x k] as scratch.
double quadratic_forms(const float *x, int64_t rows, const float *h, int64_t k, float *t,
                       ThreadPool *pool) {
    sgemm(false, false, rows, k, k, 1.0f, x, k, h, k, 0.0f, t, k, pool);
    double s = 0.0;
    for (int64_t i = 0; i < rows * k; ++i) s += double(t[i]) * double(x[i]);
    return s;
}

} // namespace

double relative_output_error(const QLayer &q, const float *w, const HessianState &hs,
                             ThreadPool *pool) {
    const int64_t n = q.n, k = q.k;
    std::vector<float> h(size_t(k) * size_t(k));
    hs.read_scaled(h.data());
    std::vector<float> drows(size_t(kRows * k)), t(size_t(kRows * k));
    double num = 0.0, den = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += kRows) {
        const int64_t rows = std::min(kRows, n - r0);
        output_error_rows(q, w, r0, rows, drows.data());
        den += quadratic_forms(w + r0 * k, rows, h.data(), k, t.data(), pool);
        num += quadratic_forms(drows.data(), rows, h.data(), k, t.data(), pool);
    }
    return output_error_ratio(num, den);
}

} // namespace gptq::cpu
