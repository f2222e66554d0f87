// Every row of W is independent in GPTQ's column loop (per-row quantizer parameters, per-row
// error feedback), so each block is processed row by row, rows split across threads, and a
// row only ever touches its own values plus the shared read-only U. The quantization error
// of column c is stored back into W[:, c] (never read again as a weight), which makes
// W[:, i1:i2] the Err1 operand of the trailing GEMM without another N x B buffer, while the
// not-yet-quantized columns of W keep their block-start values, as the reference's
// find_params reads them (docs/gptq-reference.md §3 quirk).
#include "backends/cpu/gptq_loop.h"

#include "backends/cpu/cholesky.h"
#include "backends/cpu/column_block.h"
#include "backends/cpu/cpu_pack.h"
#include "backends/cpu/error_feedback.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/group_range.h"
#include "backends/cpu/thread_pool.h"
#include "core/huge_page_allocator.h"
#include "core/quantizer.h"

#include <algorithm>
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

class CpuGptqSession final : public GptqSession {
public:
    CpuGptqSession(const QuantOptions &opt, float *w, int64_t n, int64_t k, const HessianView &h,
                   std::vector<float> h_storage, ThreadPool *pool)
        : opt_(opt), w_(w), n_(n), k_(k), h_(h), h_storage_(std::move(h_storage)), pool_(pool),
          threads_(pool ? pool->size() : 1), codes_(size_t(n * k), 0),
          scales_(size_t(opt.n_groups(k) * n), 0.0f), zeros_(scales_.size(), 0),
          row_loss_(size_t(n), 0.0) {}

    std::vector<float> hessian_diagonal() override {
        std::vector<float> d(static_cast<size_t>(k_));
        for (int64_t j = 0; j < k_; ++j) d[size_t(j)] = h_.at(j, j);
        return d;
    }

    // W is modified in place by set_plan and permute, so every source is simply W now.
    void group_params(ParamSource, int64_t g0, int64_t count, int64_t g_cols) override {
        for_rows(pool_, n_, [&](int64_t r0, int64_t r1, int) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t g = g0; g < g0 + count; ++g) {
                    const int64_t c0 = g * g_cols;
                    const float *x = w_ + r * k_ + c0;
                    const int64_t len = std::min(g_cols, k_ - c0);
                    float xmin, xmax;
                    group_range(x, len, &xmin, &xmax);
                    const GroupParams p = find_params_in_range(x, len, 1, xmin, xmax, opt_);
                    scales_[size_t(g * n_ + r)] = p.scale;
                    zeros_[size_t(g * n_ + r)] = zero_point_int(p.zero);
                }
        });
    }

    void set_plan(const ColumnPlan &plan) override {
        perm_ = plan.perm;
        group_of_ = plan.group_of;
        diag_ = hessian_diagonal();
        std::vector<int64_t> dead;
        for (int64_t j = 0; j < k_; ++j)
            if (plan.dead[size_t(j)]) {
                diag_[size_t(j)] = 1.0f;
                dead.push_back(j);
            }
        if (!dead.empty())
            for (int64_t r = 0; r < n_; ++r)
                for (int64_t j : dead) w_[r * k_ + j] = 0.0f;
    }

    void permute() override {
        if (!opt_.desc_act) return;
        std::vector<float> tmp(size_t(threads_) * size_t(k_));
        for_rows(pool_, n_, [&](int64_t r0, int64_t r1, int thread) {
            float *t = tmp.data() + int64_t(thread) * k_;
            for (int64_t r = r0; r < r1; ++r) {
                float *row = w_ + r * k_;
                for (int64_t c = 0; c < k_; ++c) t[c] = row[perm_[size_t(c)]];
                std::copy(t, t + k_, row);
            }
        });
    }

    bool factor_inverse(float damp) override {
        if (u_.empty()) u_.resize(size_t(k_) * size_t(k_));
        // Lower triangle of the permuted H, diagonal fixed + damped, in reversed order (row i
        // is permuted column k-1-i), the form the inverse factor starts from.
        for_rows(pool_, k_, [&](int64_t r0, int64_t r1, int) {
            for (int64_t i = r0; i < r1; ++i) {
                const int64_t pi = perm_[size_t(k_ - 1 - i)];
                float *dst = u_.data() + i * k_;
                for (int64_t j = 0; j < i; ++j) dst[j] = h_.at(pi, perm_[size_t(k_ - 1 - j)]);
                dst[i] = diag_[size_t(pi)] + damp;
            }
        });
        return gptq_inverse_factor_reversed(u_.data(), k_, k_, pool_);
    }

    void quantize_block(int64_t i1, int64_t i2) override {
        constexpr int64_t L = kColumnBlockRows;
        const int64_t width = std::min<int64_t>(std::max(1, opt_.block_size), k_);
        if (work_.empty()) {
            work_.resize(size_t(threads_) * size_t(L * width));
            code_work_.resize(work_.size());
        }
        // Rows are split in whole groups of 16 so that the 16-lane kernel sees the same rows
        // whatever the thread count (either path gives the same bits anyway).
        const bool x16 = column_block_x16_available();
        const ColumnBlockArgs args{w_,           n_,           k_,           u_.data(),
                                   group_of_.data(), scales_.data(),
                                   zeros_.data(), codes_.data(), opt_.maxq()};
        for_rows(pool_, (n_ + L - 1) / L, [&](int64_t g0, int64_t g1, int thread) {
            float *t = work_.data() + int64_t(thread) * L * width;
            int64_t r = g0 * L;
            const int64_t r1 = std::min(n_, g1 * L);
            if (x16)
                for (; r + L <= r1; r += L)
                    column_block_x16(args, i1, i2, r, t, code_work_.data() + (t - work_.data()),
                                     row_loss_.data() + r);
            quantize_rows(i1, i2, r, r1, t);
        });
    }

    void trailing_update(int64_t i1, int64_t i2) override {
        // W[:, i2:] -= Err1 * U[i1:i2, i2:], Err1 being W[:, i1:i2] by now.
        sgemm(false, false, n_, k_ - i2, i2 - i1, -1.0f, w_ + i1, k_, u_.data() + i1 * k_ + i2,
              k_, 1.0f, w_ + i2, k_, pool_);
    }

    void fetch_result(QuantResult *out) override {
        // Codes were stored in the permuted order (contiguous writes in the loop); put each
        // row back in natural column order.
        if (opt_.desc_act) {
            std::vector<uint8_t> natural(size_t(threads_) * size_t(k_));
            for_rows(pool_, n_, [&](int64_t r0, int64_t r1, int thread) {
                uint8_t *tmp = natural.data() + thread * k_;
                for (int64_t r = r0; r < r1; ++r) {
                    uint8_t *row = codes_.data() + r * k_;
                    for (int64_t c = 0; c < k_; ++c) tmp[perm_[size_t(c)]] = row[c];
                    std::copy(tmp, tmp + k_, row);
                }
            });
        }
        // Packed here on every thread (the layer assembly then skips its serial packing);
        // the codes go along for the callers that read them.
        out->qweight = pack_qweight(codes_.data(), n_, k_, opt_.bits, pool_);
        out->codes = std::move(codes_);
        out->scales = std::move(scales_);
        out->zeros = std::move(zeros_);
        // Summed in row order: the result does not depend on how rows were split across
        // threads (nothing else does either: GEMM sums follow fixed k slices).
        out->loss = 0.0;
        for (double l : row_loss_) out->loss += l;
    }

private:
    const QuantOptions &opt_;
    float *w_;
    int64_t n_, k_;
    HessianView h_;
    std::vector<float> h_storage_;
    ThreadPool *pool_;
    int threads_;
    std::vector<int32_t> perm_, group_of_;
    std::vector<float> diag_;    // diag(H) with dead columns set to 1, natural order
    BigVector<float> u_;         // U in its upper triangle
    std::vector<float> work_;    // 16 block rows per thread
    std::vector<uint8_t> code_work_;  // their codes
    std::vector<uint8_t> codes_; // [n][k], permuted column order until fetch_result
    std::vector<float> scales_;
    std::vector<int32_t> zeros_;
    std::vector<double> row_loss_;

    // Block [i1, i2) for rows [r0, r1): quantize column by column with in-block error
    // feedback on a private copy t of the row's block, store each column's error into W.
    void quantize_rows(int64_t i1, int64_t i2, int64_t r0, int64_t r1, float *t) {
        const int64_t k = k_, n = n_, len = i2 - i1;
        const int maxq = opt_.maxq();
        for (int64_t r = r0; r < r1; ++r) {
            double loss = 0.0;
            float *row = w_ + r * k;
            uint8_t *codes = codes_.data() + r * k;
            std::copy(row + i1, row + i2, t);
            for (int64_t i = 0; i < len; ++i) {
                const int64_t col = i1 + i;
                const int64_t g = group_of_[size_t(col)];
                const GroupParams p{scales_[size_t(g * n + r)], float(zeros_[size_t(g * n + r)])};
                const float x = t[i];
                const int code = quantize_code(x, p, maxq);
                const float q = p.scale * (float(code) - p.zero);
                codes[col] = uint8_t(code);
                const float *urow = u_.data() + col * k;
                const float d = urow[col];
                const float diff = x - q;
                const float err = diff / d;
                loss += double(diff * diff / (d * d)) / 2.0;
                subtract_scaled(t + i + 1, urow + i1 + i + 1, err, len - i - 1);
                row[col] = err;
            }
            row_loss_[size_t(r)] += loss;
        }
    }
};

} // namespace

std::unique_ptr<GptqSession> start_cpu_gptq(const QuantOptions &opt, float *w, int64_t n,
                                            int64_t k, const HessianView &h,
                                            std::vector<float> h_storage, ThreadPool *pool) {
    return std::make_unique<CpuGptqSession>(opt, w, n, k, h, std::move(h_storage), pool);
}

} // namespace gptq::cpu
