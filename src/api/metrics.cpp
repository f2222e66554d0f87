#include "api/metrics.h"

#include "api/qlayer_build.h"
#include "api/validate.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <vector>

namespace gptq {

namespace {

constexpr int64_t kRows = 64;  // rows of W (and of D) per GEMM against H

// Sum over rows r of x_r^T H x_r for x [rows x k], using t [rows x k] as scratch.
double quadratic_forms(const float *x, int64_t rows, const float *h, int64_t k, float *t,
                       cpu::ThreadPool *pool) {
    cpu::sgemm(false, false, rows, k, k, 1.0f, x, k, h, k, 0.0f, t, k, pool);
    double s = 0.0;
    for (int64_t i = 0; i < rows * k; ++i) s += double(t[i]) * double(x[i]);
    return s;
}

} // namespace

double relative_output_error(const gptq_matrix *w, const QLayer &q, const float *h,
                             int n_threads) {
    const int64_t n = q.n, k = q.k;
    const int64_t ld = w->row_stride == 0 ? w->cols : w->row_stride;
    cpu::ThreadPool pool(n_threads);
    std::vector<float> wrows(size_t(kRows * k)), drows(size_t(kRows * k)), t(size_t(kRows * k));
    double num = 0.0, den = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += kRows) {
        const int64_t rows = std::min(kRows, n - r0);
        for (int64_t r = 0; r < rows; ++r) {
            float *wr = wrows.data() + r * k, *dr = drows.data() + r * k;
            for (int64_t j = 0; j < k; ++j)
                wr[j] = element_f32(w->data, w->dtype, (r0 + r) * ld + j);
            dequantize_row(q, r0 + r, dr);
            for (int64_t j = 0; j < k; ++j) dr[j] = wr[j] - dr[j];
        }
        den += quadratic_forms(wrows.data(), rows, h, k, t.data(), &pool);
        num += quadratic_forms(drows.data(), rows, h, k, t.data(), &pool);
    }
    return den > 0.0 ? num / den : 0.0;
}

} // namespace gptq
