#include "backends/vulkan/vk_hessian.h"

#include "backends/vulkan/vk_products.h"
#include "backends/vulkan/vk_push_constants.h"
#include "core/error.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace gptq::vk {

size_t dtype_bytes(gptq_dtype dtype) { return dtype == GPTQ_DTYPE_F32 ? 4 : 2; }

void pack_activation_rows(const void *x, gptq_dtype dtype, int64_t n, int64_t k, int64_t ld,
                          void *dst, int64_t ld_dst) {
    const size_t es = dtype_bytes(dtype);
    if (ld_dst < k) ld_dst = k;
    const auto *src = static_cast<const uint8_t *>(x);
    auto *out = static_cast<uint8_t *>(dst);
    for (int64_t r = 0; r < n; ++r) {
        std::memcpy(out + size_t(r * ld_dst) * es, src + size_t(r * ld) * es, size_t(k) * es);
        std::memset(out + size_t(r * ld_dst + k) * es, 0, size_t(ld_dst - k) * es);
    }
}

VulkanHessian::VulkanHessian(std::shared_ptr<Context> ctx, int64_t k)
    : HessianState(k), ctx_(std::move(ctx)) {
    sum_ = Buffer(ctx_->device, size_t(k * k) * 4, Buffer::DeviceLocal, "the Hessian");
    Recorder rec(*ctx_);
    rec.fill_zero(sum_);
    rec.submit();
}

void VulkanHessian::add(const void *x, gptq_dtype dtype, int64_t n, int64_t ld) {
    if (n <= 0) return;
    if (given_) {
        // Continue from a set() matrix by undoing its 2/n scale (as the CPU backend does).
        if (tokens_ <= 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT,
                 "cannot add activations to a Hessian that was set with n_tokens = 0");
        Recorder rec(*ctx_);
        const uint64_t count = uint64_t(k_ * k_);
        const ScalePC pc{uint32_t(count), float(double(tokens_) / 2.0)};
        const uint32_t g = groups(count, 256);
        const uint32_t gx = std::min<uint32_t>(g, 65535), gy = groups(g, gx);
        rec.dispatch(Kernel::HessianScale, {&sum_, &sum_}, pc, gx, gy);
        rec.submit();
        given_ = false;
    }
    const size_t es = dtype_bytes(dtype);
    const bool bcast = use_bcast_products(*ctx_);
    const int64_t ldp = hessian_row_stride(k_, bcast);
    // Batches are split so one staging image stays modest; each chunk is its own submit
    // (the sum is on the device, so chunks simply accumulate). The split depends on nothing
    // but k and the dtype, so every device (and storage range) sums the same tokens together.
    const int64_t max_bytes = int64_t(64) << 20;
    const int64_t rows_per = std::max<int64_t>(1, max_bytes / std::max<int64_t>(1, ldp * int64_t(es)));
    for (int64_t r0 = 0; r0 < n; r0 += rows_per) {
        const int64_t rows = std::min(rows_per, n - r0);
        const size_t bytes = size_t(rows * ldp) * es;
        Buffer xbuf(ctx_->device, bytes, Buffer::DeviceLocal, "Hessian activations");
        Recorder rec(*ctx_);
        std::vector<uint8_t> img((bytes + 3) / 4 * 4, 0);
        pack_activation_rows(static_cast<const uint8_t *>(x) + size_t(r0 * ld) * es, dtype, rows,
                             k_, ld, img.data(), ldp);
        rec.upload(xbuf, img.data(), img.size());
        rec.barrier();
        // Each dispatch's invocations loop over its tokens: keep that within the loop budget
        // by accumulating sub-batches of tokens one dispatch after another.
        const int64_t per = kLoopBudget / 2;
        for (int64_t t0 = 0; t0 < rows; t0 += per) {
            const uint32_t nt = uint32_t(std::min(per, rows - t0));
            record_hessian_sum(rec, *ctx_, bcast, xbuf, sum_, uint32_t(dtype), nt, uint32_t(k_),
                               uint32_t(t0 * ldp));
            rec.barrier();
        }
        rec.mark("hessian_accum");
        rec.submit();
    }
    tokens_ += n;
}

void VulkanHessian::set(const float *h, int64_t n_tokens) {
    Recorder rec(*ctx_);
    rec.upload(sum_, h, size_t(k_ * k_) * 4);
    rec.submit();
    given_ = true;
    tokens_ = n_tokens;
}

void VulkanHessian::record_scaled(Recorder &rec, const Buffer &dst) const {
    if (given_) {
        rec.copy(sum_, 0, dst, 0, size_t(k_ * k_) * 4);
        return;
    }
    const uint64_t count = uint64_t(k_ * k_);
    // 2/n rounded once to fp32, then one fp32 multiply per entry (as the CPU backend).
    ScalePC pc{uint32_t(count), float(2.0 / double(tokens_))};
    const uint32_t g = groups(count, 256);
    const uint32_t gx = std::min<uint32_t>(g, 65535), gy = groups(g, gx);
    rec.dispatch(Kernel::HessianScale, {&sum_, &dst}, pc, gx, gy);
    rec.mark("hessian_scale");
}

void VulkanHessian::read_scaled(float *dst) const {
    if (!has_data())
        fail(GPTQ_ERR_INVALID_ARGUMENT, "Hessian: no activations were added");
    const size_t bytes = size_t(k_ * k_) * 4;
    Buffer scaled(ctx_->device, bytes, Buffer::DeviceLocal, "the scaled Hessian");
    Recorder rec(*ctx_);
    record_scaled(rec, scaled);
    rec.barrier();
    const int id = rec.download(scaled, 0, bytes);
    rec.submit();
    std::memcpy(dst, rec.downloaded(id), bytes);
}

} // namespace gptq::vk
