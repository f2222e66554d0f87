// Hessian accumulator whose sum X^T X stays on the device; quantize() on the same context
// scales it in place of a download/upload round trip.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_context.h"
#include "core/backend.h"

#include <memory>

namespace gptq::vk {

class VulkanHessian final : public HessianState {
public:
    VulkanHessian(std::shared_ptr<Context> ctx, int64_t k);

    void add(const void *x, gptq_dtype dtype, int64_t n, int64_t ld) override;
    void set(const float *h, int64_t n_tokens) override;
    void read_scaled(float *dst) const override;

    const Context *context() const { return ctx_.get(); }
    // Records dst = scaled H (K x K fp32) into rec.
    void record_scaled(Recorder &rec, const Buffer &dst) const;

private:
    std::shared_ptr<Context> ctx_;
    Buffer sum_;  // sum of x x^T, or the given scaled H after set()
};

// Copies rows of a strided activation matrix into a staging image of n rows of ld_dst
// elements of dtype (2 or 4 bytes each; ld_dst <= k: contiguous rows of k), the layout the
// shaders read; elements k .. ld_dst - 1 of each row are zeroed.
void pack_activation_rows(const void *x, gptq_dtype dtype, int64_t n, int64_t k, int64_t ld,
                          void *dst, int64_t ld_dst = 0);
size_t dtype_bytes(gptq_dtype dtype);

} // namespace gptq::vk
