#include "backends/vulkan/vk_quantize.h"

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_factor.h"
#include "backends/vulkan/vk_hessian.h"
#include "backends/vulkan/vk_push_constants.h"
#include "core/error.h"
#include "core/gptq_plan.h"
#include "core/pack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

namespace gptq::vk {

namespace {

// Blocks recorded per submit of the column loop: few enough submits to stay cheap, enough
// to report progress (and honour cancellation) a few times per layer.
constexpr int64_t kProgressSubmits = 8;

struct Prepared {
    std::vector<int32_t> perm;
    std::vector<uint32_t> dead;  // 1 for a dead column (natural index)
    int64_t n_dead = 0;
    float mean_diag = 0.0f;
};

// Host side of steps 2, 4 and 5 from diag(H): dead columns, act-order permutation (stable
// descending sort of the fixed diagonal, as the CPU backend), mean diagonal for damping.
Prepared prepare_from_diag(const QuantOptions &opt, std::vector<float> diag) {
    const int64_t k = int64_t(diag.size());
    Prepared p;
    p.dead.assign(size_t(k), 0);
    for (int64_t j = 0; j < k; ++j)
        if (diag[size_t(j)] == 0.0f) {
            diag[size_t(j)] = 1.0f;
            p.dead[size_t(j)] = 1;
            ++p.n_dead;
        }
    p.perm = column_order(diag.data(), 1, k, opt);
    double sum = 0.0;
    for (float d : diag) sum += d;
    p.mean_diag = float(sum / double(k));
    return p;
}

std::vector<float> mse_shrink_table(const QuantOptions &opt, uint32_t *steps) {
    *steps = opt.mse ? uint32_t(std::floor(double(opt.mse_maxshrink) * opt.mse_grid + 1e-4)) : 0u;
    std::vector<float> p(std::max<uint32_t>(*steps, 1u), 1.0f);
    for (uint32_t i = 0; i < *steps; ++i) p[i] = float(1.0 - double(i) / double(opt.mse_grid));
    return p;
}

struct ParamsJob {
    const Buffer *src;   // W [n x k] or, transposed, Wt [k x n]
    bool transposed;
    bool use_dead;
    uint32_t g0, g_count, group_cols;
};

// Records group-parameter dispatches; an MSE search is split into runs of shrink steps so
// no invocation exceeds the loop budget (see kLoopBudget).
void record_group_params(Recorder &rec, const QuantOptions &opt, uint32_t n, uint32_t k,
                         uint32_t mse_steps, const ParamsJob &job, const Buffer &params,
                         const Buffer &best_err, const Buffer &dead, const Buffer &mse_p) {
    GroupParamsPC pc{n, k, job.group_cols, job.g0, job.g_count, uint32_t(opt.bits), opt.sym,
                     0, 0, opt.mse_norm, job.use_dead, job.transposed};
    const uint32_t len = std::max<uint32_t>(1, std::min(job.group_cols, k));
    const uint32_t per = std::max<uint32_t>(1, kLoopBudget / len);
    for (uint32_t s0 = 0;; s0 += per) {
        if (mse_steps) {
            pc.s_begin = s0;
            pc.s_end = std::min(mse_steps, s0 + per);
        }
        rec.dispatch(Kernel::GroupParams, {job.src, &params, &best_err, &dead, &mse_p}, pc,
                     groups(n, 64), job.g_count);
        rec.barrier();
        if (!mse_steps || pc.s_end >= mse_steps) break;
    }
}

} // namespace

void quantize_on_device(Context &ctx, const QuantOptions &opt, const float *w, int64_t n,
                        int64_t k, const HessianState &h, QuantResult *out) {
    const Device &dev = ctx.device;
    const uint32_t N = uint32_t(n), K = uint32_t(k);
    const bool per_row = opt.group_size < 0;
    const bool is_static = !per_row && opt.static_groups;
    const uint32_t G = uint32_t(opt.group_cols(k));
    const int64_t n_groups = opt.n_groups(k);
    const int64_t bs = std::min<int64_t>(std::max(1, opt.block_size), k);
    const size_t kk_bytes = size_t(k) * size_t(k) * 4;
    uint32_t mse_steps = 0;
    const std::vector<float> mse_p = mse_shrink_table(opt, &mse_steps);

    Buffer hbuf(dev, kk_bytes, Buffer::DeviceLocal, "the Hessian");
    Buffer wbuf(dev, size_t(n * k) * 4, Buffer::DeviceLocal, "the weight");
    Buffer params(dev, size_t(n_groups * n) * 8, Buffer::DeviceLocal, "quantizer parameters");
    Buffer best_err(dev, mse_steps ? size_t(n_groups * n) * 4 : 16, Buffer::DeviceLocal,
                    "the MSE search state");
    Buffer msebuf(dev, mse_p.size() * 4, Buffer::DeviceLocal, "the MSE grid");
    Buffer deadbuf(dev, size_t(k) * 4, Buffer::DeviceLocal, "the dead-column mask");
    Buffer permbuf(dev, size_t(k) * 4, Buffer::DeviceLocal, "the permutation");
    Buffer invpermbuf(dev, size_t(k) * 4, Buffer::DeviceLocal, "the inverse permutation");
    ctx.stage_times.clear();

    // Submit 1: H and W on the device, per-row parameters from the caller's W, diag(H) back.
    Prepared prep;
    {
        Recorder rec(ctx);
        const auto *vh = dynamic_cast<const VulkanHessian *>(&h);
        if (vh && vh->context() == &ctx) {
            vh->record_scaled(rec, hbuf);
        } else {
            std::vector<float> hh(size_t(k) * size_t(k));
            h.read_scaled(hh.data());
            rec.upload(hbuf, hh.data(), kk_bytes);
        }
        rec.upload(wbuf, w, size_t(n * k) * 4);
        rec.upload(msebuf, mse_p.data(), mse_p.size() * 4);
        rec.barrier();
        if (per_row)
            record_group_params(rec, opt, N, K, mse_steps, {&wbuf, false, false, 0, 1, K},
                                params, best_err, deadbuf, msebuf);
        std::vector<size_t> diag_at(static_cast<size_t>(k));
        for (int64_t j = 0; j < k; ++j) diag_at[size_t(j)] = size_t(j * k + j);
        const int id = rec.download_gather(hbuf, diag_at);
        rec.mark("upload");
        rec.submit();
        std::vector<float> diag(static_cast<size_t>(k));
        std::memcpy(diag.data(), rec.downloaded(id), size_t(k) * 4);
        prep = prepare_from_diag(opt, std::move(diag));
    }

    // Submit 2: static parameters, permuted/dead-fixed Hp and transposed Wt.
    Buffer hp(dev, kk_bytes, Buffer::DeviceLocal, "the permuted Hessian");
    Buffer wt(dev, size_t(n * k) * 4, Buffer::DeviceLocal, "the working weight");
    {
        Recorder rec(ctx);
        rec.upload(deadbuf, prep.dead.data(), size_t(k) * 4);
        rec.upload(permbuf, prep.perm.data(), size_t(k) * 4);
        // pack_codes gathers each natural column's code from its permuted position.
        std::vector<int32_t> invperm(static_cast<size_t>(k));
        for (int64_t i = 0; i < k; ++i) invperm[size_t(prep.perm[size_t(i)])] = int32_t(i);
        rec.upload(invpermbuf, invperm.data(), size_t(k) * 4);
        rec.barrier();
        if (is_static)
            record_group_params(rec, opt, N, K, mse_steps,
                                {&wbuf, false, true, 0, uint32_t(n_groups), G}, params, best_err,
                                deadbuf, msebuf);
        const PrepPC ph{N, K, 0};
        rec.dispatch(Kernel::PrepPermute, {&hbuf, &hp, &permbuf, &deadbuf}, ph, groups(k, 16),
                     groups(k, 16));
        const PrepPC pw{N, K, 1};
        rec.dispatch(Kernel::PrepPermute, {&wbuf, &wt, &permbuf, &deadbuf}, pw, groups(n, 16),
                     groups(k, 16));
        rec.mark("prepare");
        rec.submit();
    }
    wbuf = Buffer();

    // Submits 3..: damped copy and inverse factor until a Cholesky succeeds.
    Buffer ubuf(dev, kk_bytes, Buffer::DeviceLocal, "the inverse factor");
    Buffer flag(dev, 16, Buffer::DeviceLocal, "the failure flag");
    for (DampingSchedule schedule(opt);; schedule.next()) {
        const double percent = schedule.percent();
        Recorder rec(ctx);
        rec.fill_zero(flag);
        const DampPC pd{K, float(percent) * prep.mean_diag};
        rec.dispatch(Kernel::DampDiag, {&hp, &ubuf}, pd, groups(k, 16), groups(k, 16));
        rec.barrier();
        record_inverse_factor(rec, ubuf, hbuf, flag, K);
        const int id = rec.download(flag, 0, 4);
        rec.submit();
        uint32_t failed;
        std::memcpy(&failed, rec.downloaded(id), 4);
        if (!failed) {
            out->damp_used = float(percent);
            out->damp_retries = schedule.retries();
            break;
        }
    }
    hp = Buffer();
    hbuf = Buffer();

    // The column loop: per block, the block step then the trailing GEMM.
    const size_t code_words = size_t((k + 3) / 4) * size_t(n);
    const int64_t qrows = packed_len(k, opt.bits);
    const size_t qweight_bytes = size_t(qrows * n) * 4;
    Buffer codes(dev, code_words * 4, Buffer::DeviceLocal, "the codes");
    Buffer qweight(dev, qweight_bytes, Buffer::DeviceLocal, "the packed weight");
    Buffer err(dev, size_t(bs * n) * 4, Buffer::DeviceLocal, "the block error");
    Buffer loss(dev, size_t(n) * 4, Buffer::DeviceLocal, "the loss");
    const int64_t n_blocks = (k + bs - 1) / bs;
    const int64_t per_submit = std::max<int64_t>(1, (n_blocks + kProgressSubmits - 1) / kProgressSubmits);
    const uint32_t mode = per_row ? GPTQ_PARAMS_ROW : is_static ? GPTQ_PARAMS_STATIC : GPTQ_PARAMS_DYNAMIC;
    for (int64_t b0 = 0; b0 < n_blocks; b0 += per_submit) {
        Recorder rec(ctx);
        if (b0 == 0) {
            rec.fill_zero(loss);
            rec.fill_zero(codes);
            rec.barrier();
        }
        const int64_t b1 = std::min(n_blocks, b0 + per_submit);
        for (int64_t b = b0; b < b1; ++b) {
            const uint32_t i1 = uint32_t(b * bs), i2 = uint32_t(std::min<int64_t>(k, (b + 1) * bs));
            if (mode == GPTQ_PARAMS_DYNAMIC) {
                // Groups starting in this block, from Wt as of the block start (spec §3).
                const uint32_t g0 = (i1 + G - 1) / G, g1 = (i2 + G - 1) / G;
                if (g1 > g0)
                    record_group_params(rec, opt, N, K, mse_steps,
                                        {&wt, true, false, g0, g1 - g0, G}, params, best_err,
                                        deadbuf, msebuf);
            }
            const uint32_t width = i2 - i1;
            const uint32_t per = std::max<uint32_t>(1, kLoopBudget / width);
            for (uint32_t c0 = i1; c0 < i2; c0 += per) {
                const BlockPC pb{N, K, i1, i2, c0, std::min(i2, c0 + per), G,
                                 uint32_t(opt.bits), mode, opt.desc_act};
                rec.dispatch(Kernel::GptqBlock,
                             {&wt, &ubuf, &params, &codes, &err, &loss, &permbuf}, pb,
                             groups(n, kBlockWorkgroup));
                rec.barrier();
            }
            rec.mark("gptq_block");
            if (i2 < K) {
                const TrailingPC pt{N, K, i1, i2};
                rec.dispatch(Kernel::TrailingUpdate, {&wt, &ubuf, &err}, pt,
                             groups(n, kTrailingRows), groups(K - i2, kTrailingCols));
                rec.barrier();
                rec.mark("trailing_update");
            }
        }
        int id_qweight = -1, id_params = -1, id_loss = -1;
        if (b1 == n_blocks) {
            // The codes leave the device already in checkpoint layout (natural order).
            const PackPC pp{N, K, uint32_t(opt.bits), uint32_t(qrows)};
            rec.dispatch(Kernel::PackCodes, {&codes, &invpermbuf, &qweight}, pp, groups(n, 64),
                         uint32_t(qrows));
            rec.barrier();
            rec.mark("pack");
            id_qweight = rec.download(qweight, 0, qweight_bytes);
            id_params = rec.download(params, 0, size_t(n_groups * n) * 8);
            id_loss = rec.download(loss, 0, size_t(n) * 4);
            rec.mark("download");
        }
        rec.submit();
        opt.report_progress(std::min<int64_t>(k, b1 * bs), k);
        if (b1 < n_blocks) continue;

        // Results back in natural column order.
        out->n = n;
        out->k = k;
        out->n_groups = n_groups;
        out->perm = prep.perm;
        out->dead_columns = prep.n_dead;
        out->codes.clear();
        out->qweight.resize(size_t(qrows * n));
        std::memcpy(out->qweight.data(), rec.downloaded(id_qweight), qweight_bytes);
        const auto *pv = static_cast<const float *>(rec.downloaded(id_params));
        out->scales.resize(size_t(n_groups * n));
        out->zeros.resize(size_t(n_groups * n));
        for (size_t i = 0; i < size_t(n_groups * n); ++i) {
            out->scales[i] = pv[2 * i];
            out->zeros[i] = int32_t(pv[2 * i + 1]);
        }
        out->g_idx = group_index(prep.perm, opt);
        const auto *lv = static_cast<const float *>(rec.downloaded(id_loss));
        double total = 0.0;
        for (int64_t r = 0; r < n; ++r) total += double(lv[r]);
        out->loss = total;
    }
}

void device_pack_rows(Context &ctx, const uint8_t *codes, int64_t k, int64_t n, int bits,
                      int32_t *qweight) {
    const int64_t qrows = packed_len(k, bits);
    // The kernel reads the column loop's byte layout [ceil(k/4)][n] through an inverse
    // permutation; an identity permutation packs natural-order codes.
    std::vector<uint32_t> words(size_t((k + 3) / 4) * size_t(n), 0);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t r = 0; r < n; ++r)
            words[size_t(i / 4) * size_t(n) + size_t(r)] |= uint32_t(codes[i * n + r]) << (8 * (i % 4));
    std::vector<int32_t> ident(static_cast<size_t>(k));
    std::iota(ident.begin(), ident.end(), 0);
    const Device &dev = ctx.device;
    Buffer cb(dev, words.size() * 4, Buffer::DeviceLocal, "codes");
    Buffer pb(dev, size_t(k) * 4, Buffer::DeviceLocal, "the inverse permutation");
    Buffer qb(dev, size_t(qrows * n) * 4, Buffer::DeviceLocal, "qweight");
    Recorder rec(ctx);
    rec.upload(cb, words.data(), words.size() * 4);
    rec.upload(pb, ident.data(), size_t(k) * 4);
    rec.barrier();
    const PackPC pc{uint32_t(n), uint32_t(k), uint32_t(bits), uint32_t(qrows)};
    rec.dispatch(Kernel::PackCodes, {&cb, &pb, &qb}, pc, groups(n, 64), uint32_t(qrows));
    rec.barrier();
    const int id = rec.download(qb, 0, size_t(qrows * n) * 4);
    rec.submit();
    std::memcpy(qweight, rec.downloaded(id), size_t(qrows * n) * 4);
}

void device_pack_qzeros(Context &ctx, const QLayer &q, int zero_offset, int32_t *qzeros) {
    const int64_t qcols = packed_len(q.n, q.bits);
    const size_t in_bytes = size_t(q.n_groups * q.n) * 4, out_bytes = size_t(q.n_groups * qcols) * 4;
    const Device &dev = ctx.device;
    Buffer zb(dev, in_bytes, Buffer::DeviceLocal, "zero points");
    Buffer qb(dev, out_bytes, Buffer::DeviceLocal, "qzeros");
    Recorder rec(ctx);
    rec.upload(zb, q.zeros.data(), in_bytes);
    rec.barrier();
    // Vulkan guarantees only 65535 workgroups along y: group_size 1 can need more rows.
    constexpr int64_t kMaxRows = 65535;
    for (int64_t g0 = 0; g0 < q.n_groups; g0 += kMaxRows) {
        const PackZerosPC pc{uint32_t(q.n), uint32_t(q.n_groups), uint32_t(g0), uint32_t(q.bits),
                             uint32_t(qcols), uint32_t(zero_offset)};
        rec.dispatch(Kernel::PackZeros, {&zb, &qb}, pc, groups(uint64_t(qcols), 64),
                     uint32_t(std::min(kMaxRows, q.n_groups - g0)));
    }
    rec.barrier();
    const int id = rec.download(qb, 0, out_bytes);
    rec.submit();
    std::memcpy(qzeros, rec.downloaded(id), out_bytes);
}

} // namespace gptq::vk
