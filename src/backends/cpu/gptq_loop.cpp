// Every row of W is independent in GPTQ's column loop (per-row quantizer parameters, per-row
// error feedback), so each block is processed row by row, rows split across threads, and a
// row only ever touches its own values plus the shared read-only U. The quantization error
// of column c is stored back into W[:, c] (never read again as a weight), which makes
// W[:, i1:i2] the Err1 operand of the trailing GEMM without another N x B buffer, while the
// not-yet-quantized columns of W keep their block-start values, as the reference's
// find_params reads them (spec §3 quirk).
#include "backends/cpu/gptq_loop.h"

#include "backends/cpu/cholesky.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"
#include "core/error.h"
#include "core/gptq_plan.h"
#include "core/quantizer.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace gptq::cpu {

namespace {

// Runs fn(row_begin, row_end, thread) over [0, n) in a few chunks per thread.
template <class F>
void for_rows(ThreadPool *pool, int64_t n, F &&fn) {
    const int64_t threads = pool ? pool->size() : 1;
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(n, threads * 4));
    auto task = [&](int64_t i, int thread) {
        int64_t b, e;
        split_range(n, parts, i, &b, &e);
        fn(b, e, thread);
    };
    if (pool)
        pool->parallel_for(parts, task);
    else
        for (int64_t i = 0; i < parts; ++i) task(i, 0);
}

struct Layout {
    int64_t n, k, g;  // rows, columns, columns per group
    bool dynamic;     // groups whose parameters are found during the loop
    std::vector<int32_t> perm;       // quantization order -> natural column
    std::vector<int32_t> group_of;   // quantization position -> group (row of scales)
};

// Spec §2.6 with the retry policy: damping relative to mean(diag(H)), restarted from the
// clean h with the damping raised by damp_auto_increment until damp_max.
void inverse_factor(const QuantOptions &opt, const HessianView &h,
                    const std::vector<float> &diag, const Layout &lay, float *u,
                    ThreadPool *pool, QuantResult *out) {
    const int64_t k = lay.k;
    double diag_sum = 0.0;
    for (float d : diag) diag_sum += d;
    const float mean = float(diag_sum / double(k));
    for (DampingSchedule schedule(opt);; schedule.next()) {
        const double percent = schedule.percent();
        const float damp = float(percent) * mean;
        // Lower triangle of the permuted H (all the Cholesky reads), diagonal fixed + damped.
        for_rows(pool, k, [&](int64_t r0, int64_t r1, int) {
            for (int64_t i = r0; i < r1; ++i) {
                const int64_t pi = lay.perm[size_t(i)];
                float *dst = u + i * k;
                for (int64_t j = 0; j < i; ++j) dst[j] = h.at(pi, lay.perm[size_t(j)]);
                dst[i] = diag[size_t(pi)] + damp;
            }
        });
        if (gptq_inverse_factor(u, k, k, pool)) {
            out->damp_used = float(percent);
            out->damp_retries = schedule.retries();
            return;
        }
    }
}

// One block [i1, i2) for rows [r0, r1): quantize column by column with in-block error
// feedback on a private copy of the row's block, store each column's error into W.
// row_loss[r] accumulates the row's share of the loss.
void quantize_block_rows(const QuantOptions &opt, const Layout &lay, float *w, const float *u,
                         int64_t i1, int64_t i2, int64_t r0, int64_t r1, float *t,
                         double *row_loss, QuantResult *out) {
    const int64_t k = lay.k, n = lay.n, len = i2 - i1;
    const int maxq = opt.maxq();
    for (int64_t r = r0; r < r1; ++r) {
        double loss = 0.0;
        float *row = w + r * k;
        uint8_t *codes = out->codes.data() + r * k;
        std::copy(row + i1, row + i2, t);
        for (int64_t i = 0; i < len; ++i) {
            const int64_t col = i1 + i;
            const int64_t g = lay.group_of[size_t(col)];
            if (lay.dynamic && col % lay.g == 0) {
                // Reads W as of the block start for the columns not yet quantized (sic).
                const GroupParams p = find_params(row + col, std::min(lay.g, k - col), 1, opt);
                out->scales[size_t(g * n + r)] = p.scale;
                out->zeros[size_t(g * n + r)] = int32_t(p.zero);
            }
            const GroupParams p{out->scales[size_t(g * n + r)],
                                float(out->zeros[size_t(g * n + r)])};
            const float x = t[i];
            const int code = quantize_code(x, p, maxq);
            const float q = p.scale * (float(code) - p.zero);
            codes[lay.perm[size_t(col)]] = uint8_t(code);
            const float *urow = u + col * k;
            const float d = urow[col];
            const float diff = x - q;
            const float err = diff / d;
            loss += double(diff * diff / (d * d)) / 2.0;
            for (int64_t j = i + 1; j < len; ++j) t[j] -= err * urow[i1 + j];
            row[col] = err;
        }
        row_loss[r] += loss;
    }
}

} // namespace

void gptq_quantize(const QuantOptions &opt, float *w, int64_t n, int64_t k, const HessianView &h,
                   ThreadPool *pool, QuantResult *out) {
    const int threads = pool ? pool->size() : 1;
    Layout lay;
    lay.n = n;
    lay.k = k;
    lay.g = opt.group_cols(k);
    lay.dynamic = opt.group_size > 0 && !opt.static_groups;
    const int64_t n_groups = opt.n_groups(k);

    out->n = n;
    out->k = k;
    out->n_groups = n_groups;
    out->codes.assign(size_t(n * k), 0);
    out->scales.assign(size_t(n_groups * n), 0.0f);
    out->zeros.assign(size_t(n_groups * n), 0);
    out->loss = 0.0;

    auto store_params = [&](int64_t g, int64_t r, GroupParams p) {
        out->scales[size_t(g * n + r)] = p.scale;
        out->zeros[size_t(g * n + r)] = int32_t(p.zero);
    };

    // 1. One group per row: parameters from the caller's W, before the dead-column fix.
    if (opt.group_size < 0)
        for_rows(pool, n, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r) store_params(0, r, find_params(w + r * k, k, 1, opt));
        });

    // 2. Dead columns.
    std::vector<float> diag(static_cast<size_t>(k));
    std::vector<int64_t> dead;
    for (int64_t j = 0; j < k; ++j) {
        diag[size_t(j)] = h.at(j, j);
        if (diag[size_t(j)] == 0.0f) {
            diag[size_t(j)] = 1.0f;
            dead.push_back(j);
        }
    }
    out->dead_columns = int64_t(dead.size());
    if (!dead.empty())
        for (int64_t r = 0; r < n; ++r)
            for (int64_t j : dead) w[r * k + j] = 0.0f;

    // 3. Static groups: parameters from the dead-zeroed, unpermuted W.
    if (opt.group_size > 0 && opt.static_groups)
        for_rows(pool, n, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t g = 0; g < n_groups; ++g)
                    store_params(g, r,
                                 find_params(w + r * k + g * lay.g,
                                             std::min(lay.g, k - g * lay.g), 1, opt));
        });

    // 4. Act-order: stable descending argsort of diag(H); W's columns follow.
    lay.perm = column_order(diag.data(), 1, k, opt);
    if (opt.desc_act) {
        std::vector<float> tmp(size_t(threads) * size_t(k));
        for_rows(pool, n, [&](int64_t r0, int64_t r1, int thread) {
            float *t = tmp.data() + int64_t(thread) * k;
            for (int64_t r = r0; r < r1; ++r) {
                float *row = w + r * k;
                for (int64_t c = 0; c < k; ++c) t[c] = row[lay.perm[size_t(c)]];
                std::copy(t, t + k, row);
            }
        });
    }
    out->perm = lay.perm;

    // Group of each quantization position, and g_idx (spec §5).
    out->g_idx = group_index(lay.perm, opt, &lay.group_of);

    // 5-6. Damping and U (hw holds U in its upper triangle).
    std::vector<float> hw(size_t(k) * size_t(k));
    inverse_factor(opt, h, diag, lay, hw.data(), pool, out);
    const float *u = hw.data();

    // The column loop.
    const int64_t bs = std::max<int64_t>(1, opt.block_size);
    std::vector<float> work(size_t(threads) * size_t(std::min(bs, k)));
    // Per-row loss, summed in row order at the end: the result does not depend on how rows
    // were split across threads (nothing else does either: GEMM sums follow fixed k slices).
    std::vector<double> row_loss(size_t(n), 0.0);
    for (int64_t i1 = 0; i1 < k; i1 += bs) {
        const int64_t i2 = std::min(i1 + bs, k);
        for_rows(pool, n, [&](int64_t r0, int64_t r1, int thread) {
            quantize_block_rows(opt, lay, w, u, i1, i2, r0, r1,
                                work.data() + int64_t(thread) * std::min(bs, k), row_loss.data(),
                                out);
        });
        // Lazy trailing update: W[:, i2:] -= Err1 * U[i1:i2, i2:].
        if (i2 < k)
            sgemm(false, false, n, k - i2, i2 - i1, -1.0f, w + i1, k, u + i1 * k + i2, k, 1.0f,
                  w + i2, k, pool);
        opt.report_progress(i2, k);
    }
    for (double l : row_loss) out->loss += l;
}

} // namespace gptq::cpu
