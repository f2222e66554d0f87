// Per-gptq_ctx Vulkan state: the device (with its memory arena), the pipelines built once
// for it, the reusable frames and staging ring of its operations, and the stage timings of
// the last operation when profiling is on (bench/). Shared (shared_ptr) by the
// backend, its Hessian states and its resident layers, so none outlives the device.
#pragma once

#include "backends/vulkan/vk_device.h"
#include "backends/vulkan/vk_frames.h"
#include "backends/vulkan/vk_pipelines.h"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace gptq::vk {

struct StageTime {
    std::string stage;
    double ms = 0.0;
};

// Which small-m matmul kernel to use: one invocation per output feature (X read from shared
// memory, or broadcast by subgroup shuffles), the same with several features per invocation
// (Wide: each X read serves them all; fewer invocations), or a subgroup per feature with a
// subgroup reduction over k (few features, long k). Auto measures the candidates on the
// first call of a shape and keeps the fastest.
enum class GemvKernel {
    Auto, PerFeature, Shuffle, PerFeatureWide, ShuffleWide, Subgroup, Direct, DirectWide
};
struct GemvShape {
    int64_t n, k;
    int rows, bits;
    bool operator<(const GemvShape &o) const {
        return std::tie(n, k, rows, bits) < std::tie(o.n, o.k, o.rows, o.bits);
    }
};

struct Context {
    Context(int device_index, const void *cache, size_t cache_size)
        : device(device_index), pipelines(device, cache, cache_size), frames(device),
          staging(device) {}
    Device device;
    Pipelines pipelines;
    FramePool frames;
    StagingRing staging;
    bool profiling = false;  // record timestamps (when the queue supports them)
    GemvKernel gemv = GemvKernel::Auto;  // tests force each kernel
    bool replay_matmul = true;  // few-row matmuls replay a recorded command buffer (vk_matmul_replay.h)
    std::map<GemvShape, GemvKernel> gemv_choice;  // Auto's measured choice per shape
    // The quantizer's products (Hessian sum, trailing update): the register-blocked *_bcast
    // kernels or the shared-memory tiled ones. Auto measures both once (products_choice);
    // tests force each. The column loop uses gptq_block_bcast unless told otherwise.
    enum class Products { Auto, Bcast, Tiled } products = Products::Auto;
    Products products_choice = Products::Auto;  // Auto's measured choice
    bool block_bcast = true;  // gptq_block_bcast.comp when the device can run it
    std::vector<StageTime> stage_times;  // accumulated per stage label since the last clear
    double device_ms = 0.0;  // device time of profiled submits: first to last timestamp

    // Grow-only device buffer `slot`, reused by every call of an operation (the matmul's
    // activations and outputs), so steady-state calls allocate nothing.
    const Buffer &scratch_buffer(size_t slot, size_t bytes, const char *what) {
        if (scratch.size() <= slot) scratch.resize(slot + 1);
        if (scratch[slot].size() < bytes) {
            scratch[slot] = Buffer();
            scratch[slot] = Buffer(device, bytes, Buffer::DeviceLocal, what);
        }
        return scratch[slot];
    }
    std::deque<Buffer> scratch;  // a deque: growing it keeps earlier references valid
};

} // namespace gptq::vk
