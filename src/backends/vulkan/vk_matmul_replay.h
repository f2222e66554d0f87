// Matmul calls of a few rows on a resident layer, replayed: the first call of a shape records
// its command buffer once (X in, the kernels, Y out) with X and Y buffers of its own; every
// later call of that shape only writes X, submits that command buffer and reads Y. No
// recording, descriptor update or staging per call: what remains is the driver's submit and
// wait (bench_vulkan --host measures both).
// Where the device's local memory is host-mapped and cached (lavapipe, most integrated GPUs),
// the kernels read X from and write Y to the host-mapped buffers directly; elsewhere the
// command buffer copies them through device-local buffers.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_context.h"

#include <cstdint>
#include <functional>
#include <list>

namespace gptq::vk {

class MatmulReplay {
public:
    struct Key {
        int64_t rows;
        GemvKernel kernel;
        bool profiled;
        bool operator==(const Key &o) const {
            return rows == o.rows && kernel == o.kernel && profiled == o.profiled;
        }
    };
    // Records the kernels into its command buffer: record(rec, X buffer, Y buffer).
    using RecordKernels = std::function<void(Recorder &, const Buffer &, const Buffer &)>;

    MatmulReplay(Context &ctx, const Key &key, size_t x_bytes, size_t y_bytes,
                 const RecordKernels &record);
    const Key key;
    // Host memory for the call's X (as the kernels read it), written before run().
    float *x() const { return static_cast<float *>(x_mapped_.mapped()); }
    // Runs the call; returns Y (rows x n, valid until the next run).
    const float *run();

private:
    Buffer x_mapped_, y_mapped_;  // what the host writes and reads
    Buffer x_dev_, y_dev_;        // what the kernels use when they are not the mapped ones
    Replay replay_;  // last: destroyed before the buffers it uses
};

// A layer's replays, the most recently used first; at most kMax of them (a layer is usually
// called at one shape: decode).
class MatmulReplays {
public:
    static constexpr size_t kMax = 4;
    // The replay of `key`, recorded on first use (evicting the least recently used).
    MatmulReplay &get(Context &ctx, const MatmulReplay::Key &key, size_t x_bytes, size_t y_bytes,
                      const MatmulReplay::RecordKernels &record);
    size_t size() const { return list_.size(); }

private:
    std::list<MatmulReplay> list_;
};

} // namespace gptq::vk
