// The CUDA backend's GPTQ primitives (core/gptq_session.h). The host keeps the O(k^2)
// copies the primitives need between calls (the clean H every damping attempt restarts
// from, the dead-fixed W before it is permuted); everything O(k^3) or O(n*k^2) runs in
// device kernels (cuda_linalg.cu, cuda_quantize.cu): both Cholesky factorisations, the
// triangular inverse, H^-1, every quantizer parameter search, the column loop and its lazy
// GEMM updates. Nothing here falls back to the CPU backend.
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"
#include "core/quantizer.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace gptq::cuda {
namespace {

// Uploads W [n][k] transposed to wt [k][n], taking column perm[i] as row i (perm may be
// empty: identity).
void upload_transposed(const float *w, int64_t n, int64_t k, const std::vector<int32_t> &perm,
                       DeviceBuffer<float> &wt) {
    std::vector<float> t(size_t(n * k));
    for (int64_t i = 0; i < k; ++i) {
        const int64_t c = perm.empty() ? i : perm[size_t(i)];
        for (int64_t r = 0; r < n; ++r) t[size_t(i * n + r)] = w[r * k + c];
    }
    wt.upload(t.data(), t.size());
}

class CudaGptqSession final : public GptqSession {
public:
    CudaGptqSession(const CudaBackend &backend, const QuantOptions &opt, float *w, int64_t n,
                    int64_t k, const HessianState &hs)
        : backend_(backend), opt_(opt), w_(w), n_(n), k_(k), h_(size_t(k * k)),
          wt_(size_t(k * n)), scales_(size_t(opt.n_groups(k) * n)),
          zeros_(size_t(opt.n_groups(k) * n)) {
        backend_.bind();
        hs.read_scaled(h_.data());
        const std::vector<float> shrink = mse_shrink_factors(opt);
        mse_shrink_ = DeviceBuffer<float>(shrink.size());
        if (!shrink.empty()) mse_shrink_.upload(shrink.data(), shrink.size());
        cfg_.maxq = opt.maxq();
        cfg_.sym = opt.sym;
        cfg_.mse = opt.mse;
        cfg_.mse_steps = int(shrink.size());
        cfg_.mse_shrink = mse_shrink_.get();
        cfg_.mse_norm = opt.mse_norm;
    }

    std::vector<float> hessian_diagonal() override {
        std::vector<float> d(static_cast<size_t>(k_));
        for (int64_t j = 0; j < k_; ++j) d[size_t(j)] = h_[size_t(j * k_ + j)];
        return d;
    }

    void group_params(ParamSource src, int64_t g0, int64_t count, int64_t g_cols) override {
        backend_.bind();
        // Before permute() the host W is the source (the caller's, or dead-fixed after
        // set_plan); afterwards wt holds the working W as of the block start.
        if (src != ParamSource::Working) upload_transposed(w_, n_, k_, {}, wt_);
        const int64_t c0 = g0 * g_cols;
        find_group_params(wt_.get() + c0 * n_, n_, k_ - c0, g_cols, count, cfg_,
                          scales_.get() + g0 * n_, zeros_.get() + g0 * n_);
    }

    void set_plan(const ColumnPlan &plan) override {
        perm_ = plan.perm;
        group_of_ = DeviceBuffer<int32_t>(plan.group_of.size());
        group_of_.upload(plan.group_of.data(), plan.group_of.size());
        for (int64_t j = 0; j < k_; ++j) {
            if (!plan.dead[size_t(j)]) continue;
            h_[size_t(j * k_ + j)] = 1.0f;
            for (int64_t r = 0; r < n_; ++r) w_[r * k_ + j] = 0.0f;
        }
    }

    void permute() override {
        backend_.bind();
        if (opt_.desc_act) {
            std::vector<float> hp(h_.size());
            for (int64_t i = 0; i < k_; ++i)
                for (int64_t j = 0; j < k_; ++j)
                    hp[size_t(i * k_ + j)] =
                        h_[size_t(perm_[size_t(i)]) * size_t(k_) + size_t(perm_[size_t(j)])];
            h_.swap(hp);
        }
        upload_transposed(w_, n_, k_, opt_.desc_act ? perm_ : std::vector<int32_t>(), wt_);
    }

    // H^-1 = U^T U through H = L L^T, L^-1, H^-1 = L^-T L^-1 = L2 L2^T, U = L2^T.
    bool factor_inverse(float damp) override {
        backend_.bind();
        if (!u_.get()) {
            u_ = DeviceBuffer<float>(size_t(k_ * k_));
            a_ = DeviceBuffer<float>(size_t(k_ * k_));
            inv_ = DeviceBuffer<float>(size_t(k_ * k_));
            flag_ = DeviceBuffer<int>(1);
        }
        std::vector<float> damped = h_;  // every attempt restarts from the clean H
        for (int64_t j = 0; j < k_; ++j) damped[size_t(j * k_ + j)] += damp;
        a_.upload(damped.data(), damped.size());
        if (!cholesky_lower(a_.get(), k_, flag_.get())) return false;
        tri_inverse_lower(a_.get(), inv_.get(), k_);
        // H^-1 = L^-T L^-1: C[i][j] = sum_p inv[p][i] * inv[p][j]
        gemm(k_, k_, k_, 1.0f, inv_.get(), 1, k_, inv_.get(), k_, 1, 0.0f, a_.get(), k_);
        if (!cholesky_lower(a_.get(), k_, flag_.get())) return false;
        transpose(a_.get(), k_, k_, u_.get());
        inv_ = DeviceBuffer<float>();
        a_ = DeviceBuffer<float>();
        return true;
    }

    void quantize_block(int64_t i1, int64_t i2) override {
        backend_.bind();
        if (!codes_.get()) {
            const int64_t block = std::min<int64_t>(std::max(1, opt_.block_size), k_);
            w1_ = DeviceBuffer<float>(size_t(block * n_));
            err1_ = DeviceBuffer<float>(size_t(block * n_));
            codes_ = DeviceBuffer<uint8_t>(size_t(k_ * n_));
            loss_ = DeviceBuffer<double>(size_t(n_));
            loss_.zero();
        }
        check(cudaMemcpy(w1_.get(), wt_.get() + i1 * n_, size_t((i2 - i1) * n_) * sizeof(float),
                         cudaMemcpyDeviceToDevice),
              "block copy");
        BlockArgs a{};
        a.w1 = w1_.get();
        a.err1 = err1_.get();
        a.u = u_.get();
        a.codes = codes_.get();
        a.scales = scales_.get();
        a.zeros = zeros_.get();
        a.group_of = group_of_.get();
        a.loss = loss_.get();
        a.n = n_;
        a.k = k_;
        a.i1 = i1;
        a.i2 = i2;
        a.maxq = opt_.maxq();
        cuda::quantize_block(a);
    }

    void trailing_update(int64_t i1, int64_t i2) override {
        // wt[i2:][r] -= sum_i U[i1+i][i2+m] * err1[i][r]
        gemm(k_ - i2, n_, i2 - i1, -1.0f, u_.get() + i1 * k_ + i2, 1, k_, err1_.get(), n_, 1,
             1.0f, wt_.get() + i2 * n_, n_);
    }

    void sync() override { check(cudaDeviceSynchronize(), "GPTQ column loop"); }

    void fetch_result(QuantResult *out) override {
        backend_.bind();
        std::vector<uint8_t> codes_h(size_t(k_ * n_));
        codes_.download(codes_h.data(), codes_h.size());
        out->scales.resize(scales_.size());
        scales_.download(out->scales.data(), scales_.size());
        std::vector<float> zeros_h(zeros_.size());
        zeros_.download(zeros_h.data(), zeros_h.size());
        std::vector<double> loss_h(static_cast<size_t>(n_));
        loss_.download(loss_h.data(), loss_h.size());
        out->codes.assign(size_t(n_ * k_), 0);
        for (int64_t i = 0; i < k_; ++i)  // back to natural column order
            for (int64_t r = 0; r < n_; ++r)
                out->codes[size_t(r * k_ + perm_[size_t(i)])] = codes_h[size_t(i * n_ + r)];
        out->zeros.resize(zeros_h.size());
        for (size_t i = 0; i < zeros_h.size(); ++i) out->zeros[i] = int32_t(zeros_h[i]);
        out->loss = std::accumulate(loss_h.begin(), loss_h.end(), 0.0);
    }

private:
    const CudaBackend &backend_;
    const QuantOptions &opt_;
    float *w_;
    int64_t n_, k_;
    std::vector<float> h_;  // clean H (dead-fixed, permuted after permute())
    std::vector<int32_t> perm_;
    QuantizerConfig cfg_{};
    DeviceBuffer<float> mse_shrink_, wt_, scales_, zeros_, u_, a_, inv_, w1_, err1_;
    DeviceBuffer<int32_t> group_of_;
    DeviceBuffer<int> flag_;
    DeviceBuffer<uint8_t> codes_;
    DeviceBuffer<double> loss_;
};

} // namespace

std::unique_ptr<GptqSession> CudaBackend::start_gptq(const QuantOptions &opt, float *w,
                                                     int64_t n, int64_t k,
                                                     const HessianState &h) {
    return std::make_unique<CudaGptqSession>(*this, opt, w, n, k, h);
}

} // namespace gptq::cuda
