#include "backends/vulkan/vk_quantize.h"

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_factor.h"
#include "backends/vulkan/vk_hessian.h"
#include "backends/vulkan/vk_products.h"
#include "backends/vulkan/vk_push_constants.h"
#include "core/error.h"
#include "core/pack.h"
#include "core/quantizer.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

namespace gptq::vk {

namespace {

// Blocks recorded per submit of the column loop: few enough submits to stay cheap, enough
// to report progress (and honour cancellation) a few times per layer.
constexpr int64_t kProgressSubmits = 8;

struct ParamsJob {
    const Buffer *src;   // W [n x k] or, transposed, Wt [k x n]
    bool transposed;
    bool use_dead;
    uint32_t g0, g_count, group_cols;
};

// The layer's device state between the driver's calls. Work is recorded into one open
// Recorder and submitted when the driver needs a result or asks for a sync.
class VkGptqSession final : public GptqSession {
public:
    VkGptqSession(Context &ctx, const QuantOptions &opt, const float *w, int64_t n, int64_t k,
                  const HessianState &h)
        : ctx_(ctx), opt_(opt), n_(n), k_(k), N_(uint32_t(n)), K_(uint32_t(k)),
          G_(uint32_t(opt.group_cols(k))), n_groups_(opt.n_groups(k)),
          bs_(std::min<int64_t>(std::max(1, opt.block_size), k)),
          bcast_(use_bcast_products(ctx)) {
        const Device &dev = ctx.device;
        std::vector<float> mse_p = mse_shrink_factors(opt);
        mse_steps_ = uint32_t(mse_p.size());
        if (mse_p.empty()) mse_p.assign(1, 1.0f);
        const size_t kk_bytes = size_t(k) * size_t(k) * 4;
        hbuf_ = Buffer(dev, kk_bytes, Buffer::DeviceLocal, "the Hessian");
        wbuf_ = Buffer(dev, size_t(n * k) * 4, Buffer::DeviceLocal, "the weight");
        params_ = Buffer(dev, size_t(n_groups_ * n) * 8, Buffer::DeviceLocal, "quantizer parameters");
        best_err_ = Buffer(dev, mse_steps_ ? size_t(n_groups_ * n) * 4 : 16, Buffer::DeviceLocal,
                           "the MSE search state");
        msebuf_ = Buffer(dev, mse_p.size() * 4, Buffer::DeviceLocal, "the MSE grid");
        deadbuf_ = Buffer(dev, size_t(k) * 4, Buffer::DeviceLocal, "the dead-column mask");
        permbuf_ = Buffer(dev, size_t(k) * 4, Buffer::DeviceLocal, "the permutation");
        invpermbuf_ = Buffer(dev, size_t(k) * 4, Buffer::DeviceLocal, "the inverse permutation");
        ctx.stage_times.clear();

        Recorder &r = rec();
        const auto *vh = dynamic_cast<const VulkanHessian *>(&h);
        if (vh && vh->context() == &ctx) {
            vh->record_scaled(r, hbuf_);
        } else {
            std::vector<float> hh(size_t(k) * size_t(k));
            h.read_scaled(hh.data());
            r.upload(hbuf_, hh.data(), kk_bytes);
        }
        r.upload(wbuf_, w, size_t(n * k) * 4);
        r.upload(msebuf_, mse_p.data(), mse_p.size() * 4);
        r.barrier();
    }

    std::vector<float> hessian_diagonal() override {
        std::vector<size_t> diag_at(static_cast<size_t>(k_));
        for (int64_t j = 0; j < k_; ++j) diag_at[size_t(j)] = size_t(j * k_ + j);
        const int id = rec().download_gather(hbuf_, diag_at);
        rec().mark("upload");
        rec().submit();
        std::vector<float> diag(static_cast<size_t>(k_));
        std::memcpy(diag.data(), rec().downloaded(id), size_t(k_) * 4);
        rec_.reset();
        return diag;
    }

    void group_params(ParamSource src, int64_t g0, int64_t count, int64_t g_cols) override {
        const uint32_t g = uint32_t(g0), c = uint32_t(count), gc = uint32_t(g_cols);
        switch (src) {
        case ParamSource::Original: record_group_params({&wbuf_, false, false, g, c, gc}); break;
        case ParamSource::Natural: record_group_params({&wbuf_, false, true, g, c, gc}); break;
        case ParamSource::Working: record_group_params({&wt_, true, false, g, c, gc}); break;
        }
    }

    void set_plan(const ColumnPlan &plan) override {
        std::vector<uint32_t> dead(plan.dead.begin(), plan.dead.end());
        rec().upload(deadbuf_, dead.data(), size_t(k_) * 4);
        rec().upload(permbuf_, plan.perm.data(), size_t(k_) * 4);
        // pack_codes gathers each natural column's code from its permuted position.
        std::vector<int32_t> invperm(static_cast<size_t>(k_));
        for (int64_t i = 0; i < k_; ++i) invperm[size_t(plan.perm[size_t(i)])] = int32_t(i);
        rec().upload(invpermbuf_, invperm.data(), size_t(k_) * 4);
        rec().barrier();
    }

    void permute() override {
        const Device &dev = ctx_.device;
        hp_ = Buffer(dev, size_t(k_) * size_t(k_) * 4, Buffer::DeviceLocal, "the permuted Hessian");
        wt_ = Buffer(dev, size_t(n_ * k_) * 4, Buffer::DeviceLocal, "the working weight");
        const PrepPC ph{N_, K_, 0};
        rec().dispatch(Kernel::PrepPermute, {&hbuf_, &hp_, &permbuf_, &deadbuf_}, ph,
                       groups(k_, 16), groups(k_, 16));
        const PrepPC pw{N_, K_, 1};
        rec().dispatch(Kernel::PrepPermute, {&wbuf_, &wt_, &permbuf_, &deadbuf_}, pw,
                       groups(n_, 16), groups(k_, 16));
        rec().mark("prepare");
        submit();
        wbuf_ = Buffer();
    }

    bool factor_inverse(float damp) override {
        const Device &dev = ctx_.device;
        if (!ubuf_.handle()) {
            ubuf_ = Buffer(dev, size_t(k_) * size_t(k_) * 4, Buffer::DeviceLocal, "the inverse factor");
            flag_ = Buffer(dev, 16, Buffer::DeviceLocal, "the failure flag");
        }
        Recorder &r = rec();
        r.fill_zero(flag_);
        const DampPC pd{K_, damp};
        r.dispatch(Kernel::DampDiag, {&hp_, &ubuf_}, pd, groups(k_, 16), groups(k_, 16));
        r.barrier();
        record_inverse_factor(r, ubuf_, hbuf_, flag_, K_);
        const int id = r.download(flag_, 0, 4);
        r.submit();
        uint32_t failed;
        std::memcpy(&failed, r.downloaded(id), 4);
        rec_.reset();
        if (failed) return false;
        hp_ = Buffer();  // the loop needs only U from here on
        hbuf_ = Buffer();
        return true;
    }

    void quantize_block(int64_t i1_, int64_t i2_) override {
        if (!codes_.handle()) start_loop();
        const uint32_t i1 = uint32_t(i1_), i2 = uint32_t(i2_);
        const uint32_t width = i2 - i1;
        const uint32_t per = std::max<uint32_t>(1, kLoopBudget / width);
        for (uint32_t c0 = i1; c0 < i2; c0 += per) {
            const BlockPC pb{N_, K_, i1, i2, c0, std::min(i2, c0 + per), G_,
                             uint32_t(opt_.bits), params_mode(), opt_.desc_act};
            if (ctx_.block_bcast && ctx_.pipelines.has(Kernel::GptqBlockBcast)) {
                rec().dispatch(Kernel::GptqBlockBcast,
                               {&wt_, &ubuf_, &params_, &codes_, &err_, &loss_, &permbuf_}, pb,
                               groups(n_, kBlockBcastWorkgroup));
            } else {
                rec().dispatch(Kernel::GptqBlock,
                               {&wt_, &ubuf_, &params_, &codes_, &err_, &loss_, &permbuf_}, pb,
                               groups(n_, kBlockWorkgroup));
            }
            rec().barrier();
        }
        rec().mark("gptq_block");
    }

    void trailing_update(int64_t i1, int64_t i2) override {
        record_trailing_update(rec(), ctx_, bcast_, wt_, ubuf_, err_, N_, K_,
                               uint32_t(i1), uint32_t(i2));
        rec().barrier();
        rec().mark("trailing_update");
    }

    void sync() override {
        if (rec_) submit();
    }

    int64_t blocks_per_sync(int64_t n_blocks) const override {
        return (n_blocks + kProgressSubmits - 1) / kProgressSubmits;
    }

    // The codes leave the device already in checkpoint layout (natural order).
    void fetch_result(QuantResult *out) override {
        const int64_t qrows = packed_len(k_, opt_.bits);
        const size_t qweight_bytes = size_t(qrows * n_) * 4;
        Recorder &r = rec();
        const PackPC pp{N_, K_, uint32_t(opt_.bits), uint32_t(qrows)};
        r.dispatch(Kernel::PackCodes, {&codes_, &invpermbuf_, &qweight_}, pp, groups(n_, 64),
                   uint32_t(qrows));
        r.barrier();
        r.mark("pack");
        const int id_qweight = r.download(qweight_, 0, qweight_bytes);
        const int id_params = r.download(params_, 0, size_t(n_groups_ * n_) * 8);
        const int id_loss = r.download(loss_, 0, size_t(n_) * 4);
        r.mark("download");
        r.submit();

        out->codes.clear();
        out->qweight.resize(size_t(qrows * n_));
        std::memcpy(out->qweight.data(), r.downloaded(id_qweight), qweight_bytes);
        const auto *pv = static_cast<const float *>(r.downloaded(id_params));
        out->scales.resize(size_t(n_groups_ * n_));
        out->zeros.resize(size_t(n_groups_ * n_));
        for (size_t i = 0; i < size_t(n_groups_ * n_); ++i) {
            out->scales[i] = pv[2 * i];
            // A degenerate group (its scale underflowed to 0) can come back with a NaN zero;
            // converting that to int is undefined, so it becomes -1, which the layer assembly
            // rejects (after the scale check has named the real cause).
            const float z = pv[2 * i + 1];
            out->zeros[i] = z >= 0.0f && z <= 255.0f ? int32_t(z) : -1;
        }
        const auto *lv = static_cast<const float *>(r.downloaded(id_loss));
        double total = 0.0;
        for (int64_t row = 0; row < n_; ++row) total += double(lv[row]);
        out->loss = total;
        rec_.reset();
    }

private:
    Context &ctx_;
    const QuantOptions &opt_;
    int64_t n_, k_;
    uint32_t N_, K_, G_;
    int64_t n_groups_, bs_;
    bool bcast_;  // the *_bcast product kernels (vk_products.h)
    uint32_t mse_steps_ = 0;
    Buffer hbuf_, wbuf_, params_, best_err_, msebuf_, deadbuf_, permbuf_, invpermbuf_;
    Buffer hp_, wt_, ubuf_, flag_;
    Buffer codes_, qweight_, err_, loss_;
    std::unique_ptr<Recorder> rec_;

    Recorder &rec() {
        if (!rec_) rec_ = std::make_unique<Recorder>(ctx_);
        return *rec_;
    }
    void submit() {
        rec_->submit();
        rec_.reset();
    }

    uint32_t params_mode() const {
        if (opt_.group_size < 0) return GPTQ_PARAMS_ROW;
        return opt_.static_groups ? GPTQ_PARAMS_STATIC : GPTQ_PARAMS_DYNAMIC;
    }

    void start_loop() {
        const Device &dev = ctx_.device;
        const size_t code_words = size_t((k_ + 3) / 4) * size_t(n_);
        codes_ = Buffer(dev, code_words * 4, Buffer::DeviceLocal, "the codes");
        qweight_ = Buffer(dev, size_t(packed_len(k_, opt_.bits) * n_) * 4, Buffer::DeviceLocal,
                          "the packed weight");
        err_ = Buffer(dev, size_t(bs_ * n_) * 4, Buffer::DeviceLocal, "the block error");
        loss_ = Buffer(dev, size_t(n_) * 4, Buffer::DeviceLocal, "the loss");
        rec().fill_zero(loss_);
        rec().fill_zero(codes_);
        rec().barrier();
    }

    // Records group-parameter dispatches; an MSE search is split into runs of shrink steps
    // so no invocation exceeds the loop budget (see kLoopBudget).
    void record_group_params(const ParamsJob &job) {
        GroupParamsPC pc{N_, K_, job.group_cols, job.g0, job.g_count, uint32_t(opt_.bits),
                         opt_.sym, 0, 0, opt_.mse_norm, job.use_dead, job.transposed};
        const uint32_t len = std::max<uint32_t>(1, std::min(job.group_cols, K_));
        const uint32_t per = std::max<uint32_t>(1, kLoopBudget / len);
        for (uint32_t s0 = 0;; s0 += per) {
            if (mse_steps_) {
                pc.s_begin = s0;
                pc.s_end = std::min(mse_steps_, s0 + per);
            }
            rec().dispatch(Kernel::GroupParams,
                           {job.src, &params_, &best_err_, &deadbuf_, &msebuf_}, pc,
                           groups(n_, 64), job.g_count);
            rec().barrier();
            if (!mse_steps_ || pc.s_end >= mse_steps_) break;
        }
    }
};

} // namespace

std::unique_ptr<GptqSession> start_gptq_on_device(Context &ctx, const QuantOptions &opt,
                                                  const float *w, int64_t n, int64_t k,
                                                  const HessianState &h) {
    return std::make_unique<VkGptqSession>(ctx, opt, w, n, k, h);
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
