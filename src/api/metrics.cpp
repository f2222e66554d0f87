#include "api/metrics.h"

#include "api/qlayer_build.h"
#include "api/validate.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace gptq {

namespace {

constexpr int kRows = 8;  // rows of W and D sharing one pass over H

// t[r][0..k) += a[r] * h_row for r < rows: the axpy the compiler vectorises.
__attribute__((target_clones("avx2", "default"))) void axpy_rows(float *t, const float *a,
                                                                  int rows, const float *h_row,
                                                                  int64_t k) {
    for (int r = 0; r < rows; ++r) {
        const float s = a[r];
        if (s == 0.0f) continue;
        float *tr = t + r * k;
        for (int64_t j = 0; j < k; ++j) tr[j] += s * h_row[j];
    }
}

// Sums x^T H x for `rows` rows of x (k wide) stored in xs; accumulates into out[0..rows).
void quadratic_forms(const float *xs, int rows, const float *h, int64_t k,
                     std::vector<float> &t, std::vector<float> &col, double *out) {
    std::fill(t.begin(), t.begin() + rows * k, 0.0f);
    for (int64_t i = 0; i < k; ++i) {
        for (int r = 0; r < rows; ++r) col[size_t(r)] = xs[r * k + i];
        axpy_rows(t.data(), col.data(), rows, h + i * k, k);
    }
    for (int r = 0; r < rows; ++r) {
        double s = 0.0;
        for (int64_t j = 0; j < k; ++j) s += double(t[size_t(r * k + j)]) * xs[r * k + j];
        out[r] += s;
    }
}

} // namespace

double relative_output_error(const gptq_matrix *w, const QLayer &q, const float *h,
                             int n_threads) {
    const int64_t n = q.n, k = q.k;
    const int64_t ld = w->row_stride == 0 ? w->cols : w->row_stride;
    const int threads = std::max(1, std::min<int>(n_threads, int((n + kRows - 1) / kRows)));
    std::vector<double> num(size_t(threads), 0.0), den(size_t(threads), 0.0);
    auto work = [&](int tid) {
        std::vector<float> wrows(size_t(kRows * k)), drows(size_t(kRows * k));
        std::vector<float> t(size_t(kRows * k)), col(kRows);
        double acc_w[kRows], acc_d[kRows];
        for (int64_t r0 = int64_t(tid) * kRows; r0 < n; r0 += int64_t(threads) * kRows) {
            const int rows = int(std::min<int64_t>(kRows, n - r0));
            for (int r = 0; r < rows; ++r) {
                float *wr = wrows.data() + r * k, *dr = drows.data() + r * k;
                for (int64_t j = 0; j < k; ++j) wr[j] = element_f32(w->data, w->dtype, (r0 + r) * ld + j);
                dequantize_row(q, r0 + r, dr);
                for (int64_t j = 0; j < k; ++j) dr[j] = wr[j] - dr[j];
                acc_w[r] = acc_d[r] = 0.0;
            }
            quadratic_forms(wrows.data(), rows, h, k, t, col, acc_w);
            quadratic_forms(drows.data(), rows, h, k, t, col, acc_d);
            for (int r = 0; r < rows; ++r) {
                den[size_t(tid)] += acc_w[r];
                num[size_t(tid)] += acc_d[r];
            }
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto &th : pool) th.join();
    double sn = 0.0, sd = 0.0;
    for (int t = 0; t < threads; ++t) {
        sn += num[size_t(t)];
        sd += den[size_t(t)];
    }
    return sd > 0.0 ? sn / sd : 0.0;
}

} // namespace gptq
