#include "backends/cpu/cpu_hessian.h"

#include "backends/cpu/cholesky.h"
#include "backends/cpu/convert.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/syrk_amx.h"
#include "backends/cpu/thread_pool.h"
#include "core/error.h"

#include <algorithm>

namespace gptq::cpu {

namespace {
constexpr int64_t kChunkRows = 256;  // F16/BF16 rows converted at a time

// h[lower] += xt^T xt for xt [rows x k] (row stride ldx): a symmetric rank-k update that
// computes only the tiles meeting the lower triangle.
void syrk_lower(float *h, int64_t k, const float *xt, int64_t ldx, int64_t rows,
                ThreadPool *pool) {
    sgemm_lower(true, false, k, rows, 1.0f, xt, ldx, xt, ldx, 1.0f, h, k, pool);
}
} // namespace

CpuHessian::CpuHessian(int64_t k, ThreadPool *pool)
    : HessianState(k), h_(size_t(k) * size_t(k), 0.0f), pool_(pool) {}

void CpuHessian::add(const void *x, gptq_dtype dtype, int64_t n, int64_t ld) {
    if (n <= 0) return;
    if (given_) {
        // Continue from a set() matrix by undoing its 2/n scale; impossible without a count.
        if (tokens_ <= 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT,
                 "cannot add activations to a Hessian that was set with n_tokens = 0");
        const float unscale = float(double(tokens_) / 2.0);
        for (float &v : h_) v *= unscale;
        given_ = false;
    }
    // As many bf16 parts as the dtype needs to be represented exactly (syrk_amx.h).
    const int parts = dtype == GPTQ_DTYPE_F32 ? 3 : dtype == GPTQ_DTYPE_F16 ? 2 : 1;
    if (amx_hessian_enabled(k_, kAmxChunkTokens)) {
        add_amx(x, dtype, n, ld, parts);
        tokens_ += n;
        return;
    }
    flush_pending();  // rows left by the AMX path (GPTQ_CPU_NO_AMX set since) go first
    if (dtype == GPTQ_DTYPE_F32) {
        syrk_lower(h_.data(), k_, static_cast<const float *>(x), ld, n, pool_);
    } else {
        // 256-row chunks: the fp32 kernel's k slices, so the values sum as the same values
        // given as F32 would.
        const int64_t chunk = std::min(kChunkRows, n);
        std::vector<float> buf(size_t(chunk * k_));
        for (int64_t r = 0; r < n; r += chunk) {
            const int64_t rows = std::min(chunk, n - r);
            rows_to_f32(x, dtype, ld, r, rows, k_, buf.data(), k_);
            syrk_lower(h_.data(), k_, buf.data(), k_, rows, pool_);
        }
    }
    tokens_ += n;
}

void CpuHessian::add_amx(const void *x, gptq_dtype dtype, int64_t n, int64_t ld, int parts) {
    constexpr int64_t C = kAmxChunkTokens;
    // The pending chunk only where rows will wait or be converted (F32 calls of whole chunks
    // never need it). Allocated before anything changes, so a failure leaves H as it was.
    const bool needs_pending = dtype != GPTQ_DTYPE_F32 || (pending_rows_ + n) % C != 0;
    if (needs_pending && pending_.empty()) pending_.resize(size_t(C * k_));
    int64_t r = 0;
    if (pending_rows_ > 0) {  // complete the pending chunk first
        r = std::min(n, C - pending_rows_);
        append_pending(x, dtype, 0, r, ld, parts);
        if (pending_rows_ == C) flush_pending();
    }
    for (; n - r >= C; r += C) {  // whole chunks of this call
        if (dtype == GPTQ_DTYPE_F32) {
            syrk_lower_amx(h_.data(), k_, static_cast<const float *>(x) + r * ld, ld, C, parts,
                           &amx_workspace_, pool_);
        } else {
            append_pending(x, dtype, r, C, ld, parts);
            flush_pending();
        }
    }
    if (r < n) append_pending(x, dtype, r, n - r, ld, parts);
}

void CpuHessian::append_pending(const void *x, gptq_dtype dtype, int64_t r0, int64_t rows,
                                int64_t ld, int parts) {
    float *dst = pending_.data() + pending_rows_ * k_;
    if (dtype == GPTQ_DTYPE_F32) {
        const float *src = static_cast<const float *>(x) + r0 * ld;
        for (int64_t r = 0; r < rows; ++r) std::copy(src + r * ld, src + r * ld + k_, dst + r * k_);
    } else {
        rows_to_f32(x, dtype, ld, r0, rows, k_, dst, k_);
    }
    pending_rows_ += rows;
    pending_parts_ = std::max(pending_parts_, parts);
}

void CpuHessian::flush_pending() const {
    if (pending_rows_ == 0) return;
    // Extra zero parts of fewer-bit values add exact zeros: the most parts serve every row.
    syrk_lower_amx(h_.data(), k_, pending_.data(), k_, pending_rows_, pending_parts_,
                   &amx_workspace_, pool_);
    pending_rows_ = 0;
    pending_parts_ = 1;
}

void CpuHessian::set(const float *h, int64_t n_tokens) {
    std::copy(h, h + k_ * k_, h_.begin());
    pending_rows_ = 0;  // the given matrix replaces every token added before
    pending_parts_ = 1;
    tokens_ = n_tokens;
    given_ = true;
}

HessianView CpuHessian::view() const {
    flush_pending();
    if (!given_ && tokens_ <= 0) fail(GPTQ_ERR_INVALID_ARGUMENT, "the Hessian has no data yet");
    HessianView v;
    v.data = h_.data();
    v.k = k_;
    v.lower_only = !given_;
    v.scaled = !given_;
    v.scale = given_ ? 1.0f : float(2.0 / double(tokens_));
    return v;
}

void CpuHessian::read_scaled(float *dst) const {
    flush_pending();
    if (given_) {
        std::copy(h_.begin(), h_.end(), dst);
        return;
    }
    if (tokens_ <= 0) fail(GPTQ_ERR_INVALID_ARGUMENT, "the Hessian has no data yet");
    const float s = float(2.0 / double(tokens_));
    const int64_t parts = pool_ ? std::min<int64_t>(k_, 4 * int64_t(pool_->size())) : 1;
    auto scale_rows = [&](int64_t part, int) {
        int64_t r0, r1;
        split_range(k_, parts, part, &r0, &r1);
        for (int64_t i = r0; i < r1; ++i)
            for (int64_t j = 0; j <= i; ++j) dst[i * k_ + j] = h_[size_t(i * k_ + j)] * s;
    };
    if (pool_ && parts > 1)
        pool_->parallel_for(parts, scale_rows);
    else
        for (int64_t part = 0; part < parts; ++part) scale_rows(part, 0);
    mirror_lower(dst, k_, k_, pool_);
}

} // namespace gptq::cpu
