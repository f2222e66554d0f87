// CudaBackend::quantize: GPTQ for one layer (spec §2-§3).
//
// Split of the work: the host does the O(k^2) and O(n*k) bookkeeping that decides *what*
// to compute (dead columns, the act-order sort, the damping value of each attempt, the
// final layout of codes/g_idx); everything O(k^3) or O(n*k^2) runs in device kernels
// (cuda_linalg.cu, cuda_quantize.cu): both Cholesky factorisations, the triangular
// inverse, H^-1, every quantizer parameter search, the column loop and its lazy GEMM
// updates. Nothing here falls back to the CPU backend.
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"
#include "core/error.h"
#include "core/gptq_plan.h"

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

QuantizerConfig quantizer_config(const QuantOptions &opt) {
    QuantizerConfig c{};
    c.maxq = opt.maxq();
    c.sym = opt.sym;
    c.mse = opt.mse;
    c.mse_steps = int(double(opt.mse_maxshrink) * double(opt.mse_grid));
    c.mse_grid = opt.mse_grid;
    c.mse_norm = opt.mse_norm;
    return c;
}

// Factorises the damped Hessian on the device, retrying with more damping as the spec's
// policy says. On return u holds U with H^-1 = U^T U (upper triangle valid).
void inverse_factor(const QuantOptions &opt, const std::vector<float> &h, int64_t k,
                    DeviceBuffer<float> &u, QuantResult *out) {
    double diag_sum = 0.0;
    for (int64_t j = 0; j < k; ++j) diag_sum += h[size_t(j * k + j)];
    const float mean_diag = float(diag_sum / double(k));

    DeviceBuffer<float> a(size_t(k * k)), inv(size_t(k * k));
    DeviceBuffer<int> flag(1);
    std::vector<float> damped(h.size());
    DampingSchedule schedule(opt);
    float damp = float(schedule.percent());
    for (;;) {
        damped = h;  // every attempt restarts from the clean H
        for (int64_t j = 0; j < k; ++j) damped[size_t(j * k + j)] += damp * mean_diag;
        a.upload(damped.data(), damped.size());
        bool ok = cholesky_lower(a.get(), k, flag.get());  // H = L L^T
        if (ok) {
            tri_inverse_lower(a.get(), inv.get(), k);      // inv = L^-1
            // H^-1 = L^-T L^-1: C[i][j] = sum_p inv[p][i] * inv[p][j]
            gemm(k, k, k, 1.0f, inv.get(), 1, k, inv.get(), k, 1, 0.0f, a.get(), k);
            ok = cholesky_lower(a.get(), k, flag.get());   // H^-1 = L2 L2^T
        }
        if (ok) break;
        schedule.next();
        damp = float(schedule.percent());
    }
    transpose(a.get(), k, k, u.get());  // U = L2^T
    out->damp_used = damp;
    out->damp_retries = schedule.retries();
}

} // namespace

void CudaBackend::quantize(const QuantOptions &opt, float *w, int64_t n, int64_t k,
                           const HessianState &hs, QuantResult *out) {
    bind();
    const bool grouped = opt.group_size > 0;
    const bool static_groups = grouped && opt.static_groups;
    const int64_t group_cols = grouped ? opt.group_size : 0;
    const int64_t n_groups = grouped ? opt.n_groups(k) : 1;
    const QuantizerConfig cfg = quantizer_config(opt);

    std::vector<float> h(size_t(k * k));
    hs.read_scaled(h.data());

    DeviceBuffer<float> wt(size_t(k * n));
    DeviceBuffer<float> scales(size_t(n_groups * n)), zeros(size_t(n_groups * n));
    const std::vector<int32_t> identity;

    // One group per row: parameters from the unmodified W, before the dead-column fix.
    if (!grouped) {
        upload_transposed(w, n, k, identity, wt);
        find_group_params(wt.get(), n, k, k, 1, cfg, scales.get(), zeros.get());
    }

    int64_t dead = 0;
    for (int64_t j = 0; j < k; ++j) {
        if (h[size_t(j * k + j)] != 0.0f) continue;
        h[size_t(j * k + j)] = 1.0f;
        for (int64_t r = 0; r < n; ++r) w[r * k + j] = 0.0f;
        ++dead;
    }

    // Static groups: parameters from the dead-zeroed W in natural column order.
    if (static_groups) {
        upload_transposed(w, n, k, identity, wt);
        find_group_params(wt.get(), n, k, group_cols, n_groups, cfg, scales.get(), zeros.get());
    }

    std::vector<int32_t> perm = column_order(h.data(), k + 1, k, opt);
    if (opt.desc_act) {
        std::vector<float> hp(h.size());
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j)
                hp[size_t(i * k + j)] = h[size_t(perm[size_t(i)]) * size_t(k) + size_t(perm[size_t(j)])];
        h.swap(hp);
    }
    upload_transposed(w, n, k, opt.desc_act ? perm : identity, wt);

    DeviceBuffer<float> u(size_t(k * k));
    inverse_factor(opt, h, k, u, out);

    const int64_t block = std::min<int64_t>(opt.block_size, k);
    DeviceBuffer<float> w1(size_t(block * n)), err1(size_t(block * n));
    DeviceBuffer<uint8_t> codes(size_t(k * n));
    DeviceBuffer<double> loss(static_cast<size_t>(n));
    loss.zero();
    DeviceBuffer<int32_t> perm_d(static_cast<size_t>(k));
    perm_d.upload(perm.data(), perm.size());

    for (int64_t i1 = 0; i1 < k; i1 += block) {
        const int64_t i2 = std::min(i1 + block, k);
        check(cudaMemcpy(w1.get(), wt.get() + i1 * n, size_t((i2 - i1) * n) * sizeof(float),
                         cudaMemcpyDeviceToDevice),
              "block copy");
        BlockArgs a{};
        a.wt = wt.get();
        a.w1 = w1.get();
        a.err1 = err1.get();
        a.u = u.get();
        a.codes = codes.get();
        a.scales = scales.get();
        a.zeros = zeros.get();
        a.perm = perm_d.get();
        a.loss = loss.get();
        a.n = n;
        a.k = k;
        a.i1 = i1;
        a.i2 = i2;
        a.group_cols = group_cols;
        a.static_groups = static_groups;
        a.act_order = opt.desc_act;
        a.cfg = cfg;
        quantize_block(a);
        // Lazy trailing update: wt[i2:][r] -= sum_i U[i1+i][i2+m] * err1[i][r].
        if (i2 < k)
            gemm(k - i2, n, i2 - i1, -1.0f, u.get() + i1 * k + i2, 1, k, err1.get(), n, 1, 1.0f,
                 wt.get() + i2 * n, n);
        check(cudaDeviceSynchronize(), "GPTQ column loop");
        opt.report_progress(i2, k);
    }

    std::vector<uint8_t> codes_h(size_t(k * n));
    codes.download(codes_h.data(), codes_h.size());
    std::vector<float> scales_h(size_t(n_groups * n)), zeros_h(size_t(n_groups * n));
    scales.download(scales_h.data(), scales_h.size());
    zeros.download(zeros_h.data(), zeros_h.size());
    std::vector<double> loss_h(static_cast<size_t>(n));
    loss.download(loss_h.data(), loss_h.size());

    out->n = n;
    out->k = k;
    out->n_groups = n_groups;
    out->codes.assign(size_t(n * k), 0);
    for (int64_t i = 0; i < k; ++i)  // back to natural column order (spec §3: Q[:, invperm])
        for (int64_t r = 0; r < n; ++r)
            out->codes[size_t(r * k + perm[size_t(i)])] = codes_h[size_t(i * n + r)];
    out->scales = std::move(scales_h);
    out->zeros.resize(zeros_h.size());
    for (size_t i = 0; i < zeros_h.size(); ++i) out->zeros[i] = int32_t(zeros_h[i]);
    out->g_idx = group_index(perm, opt);
    out->perm = std::move(perm);
    out->loss = std::accumulate(loss_h.begin(), loss_h.end(), 0.0);
    out->dead_columns = dead;
}

} // namespace gptq::cuda
