// The Vulkan implementation of gptq::Backend. Exposed (through gptq_static) so tests and the
// bench can reach the context: stage timings, validation counts, stage-level kernels.
#pragma once

#include "backends/vulkan/vk_context.h"
#include "core/backend.h"

#include <memory>

namespace gptq {
// The registry's entry points (src/core/backend_registry.cpp), also used by tests.
bool vulkan_backend_available();
bool vulkan_backend_is_hardware(int device_index);
std::unique_ptr<Backend> make_vulkan_backend(const gptq_ctx_params &params);
} // namespace gptq

namespace gptq::vk {

class VulkanBackend final : public Backend {
public:
    explicit VulkanBackend(const gptq_ctx_params &params);

    gptq_backend kind() const override { return GPTQ_BACKEND_VULKAN; }
    // The device and the limits the backend plans with (gptq_ctx_device_name).
    std::string device_name() const override {
        return ctx_->device.name() + " [" + ctx_->device.limits_summary() + "]";
    }
    std::unique_ptr<HessianState> create_hessian(int64_t k) override;
    std::unique_ptr<GptqSession> start_gptq(const QuantOptions &opt, float *w, int64_t n,
                                            int64_t k, const HessianState &h) override;
    double relative_output_error(const QLayer &q, const float *w,
                                 const HessianState &h) override;
    void matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                float *y, int64_t ldy) override;
    void pack_qzeros(const QLayer &q, int zero_offset, int32_t *dst) override;
    std::unique_ptr<DenseLayer> create_dense(const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                                             int64_t ldw) override;
    void matmul_dense(const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m,
                      int64_t ldx, float *y, int64_t ldy) override;
    std::vector<uint8_t> pipeline_cache() const override;

    Context &context() { return *ctx_; }

private:
    std::shared_ptr<Context> ctx_;
};

} // namespace gptq::vk
