#include "backends/vulkan/vk_matmul_replay.h"

#include "core/error.h"

namespace gptq::vk {

MatmulReplay::MatmulReplay(Context &ctx, const Key &k, size_t x_bytes, size_t y_bytes,
                           const RecordKernels &record)
    : key(k), replay_(ctx) {
    bool direct = Buffer::mapped_available(ctx.device);
    if (direct) {
        try {
            x_mapped_ = Buffer(ctx.device, x_bytes, Buffer::Mapped, "the activations");
            y_mapped_ = Buffer(ctx.device, y_bytes, Buffer::Mapped, "the output");
        } catch (const Error &e) {
            // That memory type refused for these buffers (or full): copy through staging.
            if (e.status() != GPTQ_ERR_DEVICE && e.status() != GPTQ_ERR_DEVICE_OUT_OF_MEMORY)
                throw;
            direct = false;
        }
    }
    if (!direct) {
        x_mapped_ = Buffer(ctx.device, x_bytes, Buffer::Staging, "the activations");
        y_mapped_ = Buffer(ctx.device, y_bytes, Buffer::Staging, "the output");
    }
    Recorder rec(ctx, replay_);
    if (direct) {
        record(rec, x_mapped_, y_mapped_);
    } else {
        x_dev_ = Buffer(ctx.device, x_bytes, Buffer::DeviceLocal, "the activations");
        y_dev_ = Buffer(ctx.device, y_bytes, Buffer::DeviceLocal, "the output");
        rec.copy(x_mapped_, 0, x_dev_, 0, x_bytes);
        rec.barrier();
        record(rec, x_dev_, y_dev_);  // ends with a barrier
        rec.copy(y_dev_, 0, y_mapped_, 0, y_bytes);
    }
    rec.finish();
}

const float *MatmulReplay::run() {
    replay_.run();
    return static_cast<const float *>(y_mapped_.mapped());
}

MatmulReplay &MatmulReplays::get(Context &ctx, const MatmulReplay::Key &key, size_t x_bytes,
                                 size_t y_bytes, const MatmulReplay::RecordKernels &record) {
    for (auto it = list_.begin(); it != list_.end(); ++it)
        if (it->key == key) {
            if (it != list_.begin()) list_.splice(list_.begin(), list_, it);
            return list_.front();
        }
    if (list_.size() >= kMax) list_.pop_back();
    list_.emplace_front(ctx, key, x_bytes, y_bytes, record);
    return list_.front();
}

} // namespace gptq::vk
