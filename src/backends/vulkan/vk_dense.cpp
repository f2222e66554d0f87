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

// W [n x k] on the device in its stored dtype, as slices of whole rows (output features),
// each within the device's storage-buffer range and the shader's 32-bit indexing (a layer
// larger than one binding, e.g. a 151936 x 1024 bf16 classifier on a 128 MiB device, is
// multiplied a slice at a time).
class VulkanDense final : public DenseLayer {
public:
    VulkanDense(std::shared_ptr<Context> c, const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                int64_t ldw)
        : DenseLayer(n, k, dtype), ctx(std::move(c)) {
        const size_t es = dtype_bytes(dtype);
        const uint64_t range = ctx->device.max_storage_range();
        const uint64_t row_bytes = uint64_t(k) * es;
        // Rows per slice: whole 4-byte words (an odd row of 16-bit values is padded only at
        // the slice's end), within the range and the 32-bit element index.
        int64_t per = int64_t(std::min<uint64_t>((range / 4 * 4) / std::max<uint64_t>(1, row_bytes),
                                                 uint64_t(kMaxElems / std::max<int64_t>(1, k))));
        if (per < 1)
            fail(GPTQ_ERR_UNSUPPORTED,
                 "Vulkan: one %lld-feature row of a dense layer (%llu bytes) exceeds the "
                 "device's storage-buffer range (%llu bytes)",
                 (long long)k, (unsigned long long)row_bytes, (unsigned long long)range);
        per = std::min(per, n);
        std::vector<uint8_t> img;
        Recorder rec(*ctx);
        for (int64_t n0 = 0; n0 < n; n0 += per) {
            const int64_t rows = std::min(per, n - n0);
            const size_t bytes = (size_t(rows * k) * es + 3) / 4 * 4;
            img.assign(bytes, 0);
            pack_activation_rows(static_cast<const uint8_t *>(w) + size_t(n0 * ldw) * es, dtype,
                                 rows, k, ldw, img.data());
            slices.push_back({n0, rows, Buffer(ctx->device, bytes, Buffer::DeviceLocal,
                                               "the dense weight")});
            rec.upload(slices.back().weight, img.data(), img.size());
        }
        rec.submit();
        max_rows = per;
    }
    struct Slice {
        int64_t n0, rows;  // output features [n0, n0 + rows)
        Buffer weight;
    };
    std::shared_ptr<Context> ctx;  // keeps the device alive as long as the buffers
    std::vector<Slice> slices;
    int64_t max_rows = 0;  // rows of the largest slice
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
    // Rows of X per submit: X (k values) and one slice's Y (max_rows values) of a chunk each
    // within one binding.
    const int64_t range = int64_t(std::min<uint64_t>(ctx.device.max_storage_range(), INT64_MAX));
    const int64_t x_row = (k * int64_t(es) + 3) / 4 * 4, y_row = w.max_rows * 4;
    if (x_row > range)
        fail(GPTQ_ERR_UNSUPPORTED,
             "Vulkan: one row of X (%lld bytes) exceeds the device's storage-buffer range "
             "(%lld bytes)", (long long)x_row, (long long)range);
    const int64_t rows_per = std::max<int64_t>(
        1, std::min({kMaxChunkElems / std::max<int64_t>(1, std::max(n, k)), range / x_row,
                     range / y_row}));
    for (int64_t r0 = 0; r0 < m; r0 += rows_per) {
        const int64_t rows = std::min(rows_per, m - r0);
        const size_t xbytes = (size_t(rows * k) * es + 3) / 4 * 4;
        // Reused across calls (slots of the context's grow-only scratch buffers).
        const Buffer &xb = ctx.scratch_buffer(2, xbytes, "the activations");
        const Buffer &yb = ctx.scratch_buffer(3, size_t(rows * w.max_rows) * 4, "the output");
        Recorder rec(ctx);
        auto *img = static_cast<uint8_t *>(rec.upload_area(xb, xbytes));
        if (xbytes > size_t(rows * k) * es) std::memset(img + xbytes - 4, 0, 4);  // pad word
        pack_activation_rows(static_cast<const uint8_t *>(x) + size_t(r0 * ldx) * es, dtype, rows,
                             k, ldx, img);
        rec.barrier();
        // Each slice's product [rows x slice rows] goes through the same Y buffer: computed,
        // downloaded, then overwritten by the next slice (the barrier orders the two).
        std::vector<int> ids;
        for (const auto &sl : w.slices) {
            const MatmulDensePC pc{uint32_t(rows), uint32_t(sl.rows), uint32_t(k),
                                   uint32_t(dtype), uint32_t(w.dtype())};
            rec.dispatch(Kernel::MatmulDense, {&sl.weight, &xb, &yb}, pc, groups(sl.rows, kGemmTile),
                         groups(rows, kGemmTile));
            rec.barrier();
            ids.push_back(rec.download(yb, 0, size_t(rows * sl.rows) * 4));
            rec.barrier();
        }
        rec.mark("matmul_dense");
        rec.submit();
        for (size_t i = 0; i < w.slices.size(); ++i) {
            const auto &sl = w.slices[i];
            const auto *src = static_cast<const float *>(rec.downloaded(ids[i]));
            for (int64_t r = 0; r < rows; ++r)
                std::memcpy(y + (r0 + r) * ldy + sl.n0, src + r * sl.rows, size_t(sl.rows) * 4);
        }
    }
}

} // namespace gptq::vk
