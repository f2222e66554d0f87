#include "backends/vulkan/vk_dense.h"

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_hessian.h"
#include "backends/vulkan/vk_push_constants.h"
#include "core/error.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace gptq::vk {

namespace {

// Elements of X (and of Y) per submit: bounds the transfer buffers for very large m.
constexpr int64_t kMaxChunkElems = int64_t(8) << 20;
// The shader indexes with 32-bit element offsets.
constexpr int64_t kMaxElems = (int64_t(1) << 32) - 1;

class VulkanDense final : public DenseLayer {
public:
    VulkanDense(std::shared_ptr<Context> c, const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                int64_t ldw)
        : DenseLayer(n, k, dtype), ctx(std::move(c)) {
        const size_t es = dtype_bytes(dtype);
        const size_t bytes = (size_t(n * k) * es + 3) / 4 * 4;
        if (n * k > kMaxElems || bytes > ctx->device.props().limits.maxStorageBufferRange)
            fail(GPTQ_ERR_UNSUPPORTED,
                 "Vulkan: a %lld x %lld dense layer (%zu bytes) exceeds the device's "
                 "storage-buffer range (%u bytes)",
                 (long long)n, (long long)k, bytes,
                 ctx->device.props().limits.maxStorageBufferRange);
        std::vector<uint8_t> img(bytes, 0);
        pack_activation_rows(w, dtype, n, k, ldw, img.data());
        weight = Buffer(ctx->device, bytes, Buffer::DeviceLocal, "the dense weight");
        Recorder rec(*ctx);
        rec.upload(weight, img.data(), img.size());
        rec.submit();
    }
    std::shared_ptr<Context> ctx;  // keeps the device alive as long as the buffer
    Buffer weight;
};

} // namespace

std::unique_ptr<DenseLayer> make_dense(const std::shared_ptr<Context> &ctx, const void *w,
                                       gptq_dtype dtype, int64_t n, int64_t k, int64_t ldw) {
    return std::make_unique<VulkanDense>(ctx, w, dtype, n, k, ldw);
}

void dense_matmul(Context &ctx, const DenseLayer &dl, const void *x, gptq_dtype dtype, int64_t m,
                  int64_t ldx, float *y, int64_t ldy) {
    const auto &w = static_cast<const VulkanDense &>(dl);
    // A new context may reuse a destroyed one's address; its buffers live on another device.
    if (w.ctx.get() != &ctx)
        fail(GPTQ_ERR_WRONG_CONTEXT, "dense layer belongs to a destroyed Vulkan context");
    const int64_t n = w.n(), k = w.k();
    const size_t es = dtype_bytes(dtype);
    const int64_t rows_per =
        std::max<int64_t>(1, kMaxChunkElems / std::max<int64_t>(1, std::max(n, k)));
    for (int64_t r0 = 0; r0 < m; r0 += rows_per) {
        const int64_t rows = std::min(rows_per, m - r0);
        const size_t xbytes = (size_t(rows * k) * es + 3) / 4 * 4;
        Buffer xb(ctx.device, xbytes, Buffer::DeviceLocal, "the activations");
        Buffer yb(ctx.device, size_t(rows * n) * 4, Buffer::DeviceLocal, "the output");
        std::vector<uint8_t> img(xbytes, 0);
        pack_activation_rows(static_cast<const uint8_t *>(x) + size_t(r0 * ldx) * es, dtype, rows,
                             k, ldx, img.data());
        Recorder rec(ctx);
        rec.upload(xb, img.data(), img.size());
        rec.barrier();
        const MatmulDensePC pc{uint32_t(rows), uint32_t(n), uint32_t(k), uint32_t(dtype),
                               uint32_t(w.dtype())};
        rec.dispatch(Kernel::MatmulDense, {&w.weight, &xb, &yb}, pc, groups(n, kGemmTile),
                     groups(rows, kGemmTile));
        rec.barrier();
        rec.mark("matmul_dense");
        const int id = rec.download(yb, 0, size_t(rows * n) * 4);
        rec.submit();
        const auto *src = static_cast<const float *>(rec.downloaded(id));
        for (int64_t r = 0; r < rows; ++r)
            std::memcpy(y + (r0 + r) * ldy, src + r * n, size_t(n) * 4);
    }
}

} // namespace gptq::vk
