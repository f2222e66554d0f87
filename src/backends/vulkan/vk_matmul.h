// Quantized matmul on the device. A layer's packed weights, scales, zeros and position
// tables are uploaded once and cached in QLayer::device; every call then moves only X and
// Y, through the context's scratch buffers and staging ring (no allocation per call).
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_context.h"
#include "backends/vulkan/vk_matmul_replay.h"
#include "core/qlayer.h"

#include <memory>
#include <vector>

namespace gptq::vk {

// The device copy of a layer, its k positions sorted by group (an act-order layer's rows of
// qweight are reordered once here; each call stages X in that order), see
// shaders/matmul_io.glsl.
// A layer whose buffers exceed the device's storage-buffer range is held as several slices
// of whole 32-position runs, each within the range; a matmul runs them one after another,
// accumulating into Y.
class ResidentLayer final : public DeviceLayer {
public:
    ResidentLayer(std::shared_ptr<Context> ctx, const QLayer &q);
    std::shared_ptr<Context> ctx;  // keeps the device alive as long as the buffers
    struct Slice {
        Buffer qweight, params, gpos;  // params: (scale, zero) pairs, shaders/matmul_io.glsl
        int64_t p0 = 0;            // first sorted position of this slice
        int64_t k = 0, qrows = 0;  // positions and packed rows of this slice
    };
    std::vector<Slice> slices;
    // Input feature of each sorted position (empty: the identity, a layer without act-order).
    std::vector<int32_t> order;
    // Row stride of the staged X: k rounded up to whole 32-position runs (the padding is 0).
    int64_t ldx = 0;
    // Every 32-position run lies in one group (group size a multiple of 32, or one group per
    // row): the fast GEMV kernels apply.
    bool runs_aligned = false;
    // Calls of up to kGemvMaxRows rows, recorded once per shape (the layer is used by one
    // thread at a time, gptq.h).
    mutable MatmulReplays replays;
};

// The layer's device copy for this owner (a Backend*), uploading it on first use.
const ResidentLayer &resident_layer(const std::shared_ptr<Context> &ctx, const void *owner,
                                    const QLayer &q);

// y [m x n] (row stride ldy) = x [m x k] (dtype, row stride ldx) * dequant(q)^T.
void matmul_on_device(const std::shared_ptr<Context> &ctx, const void *owner, const QLayer &q,
                      const void *x, gptq_dtype dtype, int64_t m, int64_t ldx, float *y,
                      int64_t ldy);

} // namespace gptq::vk
