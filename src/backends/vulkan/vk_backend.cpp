#include "backends/vulkan/vk_backend.h"

#include "backends/vulkan/vk_dense.h"
#include "backends/vulkan/vk_hessian.h"
#include "backends/vulkan/vk_matmul.h"
#include "backends/vulkan/vk_quantize.h"
#include "core/error.h"
#include "core/output_error.h"

namespace gptq {

namespace vk {

VulkanBackend::VulkanBackend(const gptq_ctx_params &p)
    : ctx_(std::make_shared<Context>(p.device_index, p.pipeline_cache, p.pipeline_cache_size)) {}

std::unique_ptr<HessianState> VulkanBackend::create_hessian(int64_t k) {
    return std::make_unique<VulkanHessian>(ctx_, k);
}

std::unique_ptr<GptqSession> VulkanBackend::start_gptq(const QuantOptions &opt, float *w,
                                                       int64_t n, int64_t k,
                                                       const HessianState &h) {
    return start_gptq_on_device(*ctx_, opt, w, n, k, h);
}

// tr(X H X^T) = <H, X^T X>: the O(n k^2) Gram matrices of D and W run on the device (the
// Hessian accumulation kernel); only k x k results come back for the two inner products.
double VulkanBackend::relative_output_error(const QLayer &q, const float *w,
                                            const HessianState &h) {
    const int64_t n = q.n, k = q.k;
    std::vector<float> hh(size_t(k) * size_t(k)), gram(hh.size());
    h.read_scaled(hh.data());
    auto inner_product_with_h = [&](const float *x) {
        VulkanHessian g(ctx_, k);  // (2/n) X^T X: the same factor for D and W cancels
        g.add(x, GPTQ_DTYPE_F32, n, k);
        g.read_scaled(gram.data());
        return frobenius_dot(hh.data(), gram.data(), k);
    };
    const double den = inner_product_with_h(w);
    std::vector<float> d(size_t(n) * size_t(k));
    output_error_rows(q, w, 0, n, d.data());
    return output_error_ratio(inner_product_with_h(d.data()), den);
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
