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
    // AMX when the CPU has it and the update is big enough (syrk_amx.h): as many bf16 parts
    // as the dtype needs to be represented exactly.
    const bool amx = amx_hessian_enabled(k_, n);
    const int parts = dtype == GPTQ_DTYPE_F32 ? 3 : dtype == GPTQ_DTYPE_F16 ? 2 : 1;
    auto update = [&](const float *rows_f32, int64_t ldr, int64_t rows) {
        if (amx)
            syrk_lower_amx(h_.data(), k_, rows_f32, ldr, rows, parts, &amx_workspace_, pool_);
        else
            syrk_lower(h_.data(), k_, rows_f32, ldr, rows, pool_);
    };
    if (dtype == GPTQ_DTYPE_F32) {
        update(static_cast<const float *>(x), ld, n);
    } else {
        // Converted in the AMX path's chunks there, so F16/BF16 values sum exactly as the
        // same values given as F32 (the fp32 kernel's 256-row chunks match its k slices).
        const int64_t chunk = std::min(amx ? kAmxChunkTokens : kChunkRows, n);
        std::vector<float> buf(size_t(chunk * k_));
        for (int64_t r = 0; r < n; r += chunk) {
            const int64_t rows = std::min(chunk, n - r);
            rows_to_f32(x, dtype, ld, r, rows, k_, buf.data(), k_);
            update(buf.data(), k_, rows);
        }
    }
    tokens_ += n;
}

void CpuHessian::set(const float *h, int64_t n_tokens) {
    std::copy(h, h + k_ * k_, h_.begin());
    tokens_ = n_tokens;
    given_ = true;
}

HessianView CpuHessian::view() const {
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
