#include "backends/vulkan/vk_backend.h"

#include "backends/vulkan/vk_dense.h"
#include "backends/vulkan/vk_hessian.h"
#include "backends/vulkan/vk_matmul.h"
#include "backends/vulkan/vk_quantize.h"
#include "core/error.h"

namespace gptq {

namespace vk {

VulkanBackend::VulkanBackend(const gptq_ctx_params &p)
    : ctx_(std::make_shared<Context>(p.device_index, p.pipeline_cache, p.pipeline_cache_size)) {}

std::unique_ptr<HessianState> VulkanBackend::create_hessian(int64_t k) {
    return std::make_unique<VulkanHessian>(ctx_, k);
}

void VulkanBackend::quantize(const QuantOptions &opt, float *w, int64_t n, int64_t k,
                             const HessianState &h, QuantResult *out) {
    quantize_on_device(*ctx_, opt, w, n, k, h, out);
}

void VulkanBackend::matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m,
                           int64_t ldx, float *y, int64_t ldy) {
    matmul_on_device(ctx_, this, q, x, dtype, m, ldx, y, ldy);
}

void VulkanBackend::pack_qzeros(const QLayer &q, int zero_offset, int32_t *dst) {
    device_pack_qzeros(*ctx_, q, zero_offset, dst);
}

std::unique_ptr<DenseLayer> VulkanBackend::create_dense(const void *w, gptq_dtype dtype,
                                                        int64_t n, int64_t k, int64_t ldw) {
    return make_dense(ctx_, w, dtype, n, k, ldw);
}

void VulkanBackend::matmul_dense(const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m,
                                 int64_t ldx, float *y, int64_t ldy) {
    dense_matmul(*ctx_, w, x, dtype, m, ldx, y, ldy);
}

std::vector<uint8_t> VulkanBackend::pipeline_cache() const {
    return ctx_->pipelines.cache_blob();
}

} // namespace vk

bool vulkan_backend_available() { return vk::count_usable_devices() > 0; }

bool vulkan_backend_is_hardware(int device_index) {
    return vk::usable_device_is_hardware(device_index);
}

std::unique_ptr<Backend> make_vulkan_backend(const gptq_ctx_params &params) {
    return std::make_unique<vk::VulkanBackend>(params);
}

} // namespace gptq
