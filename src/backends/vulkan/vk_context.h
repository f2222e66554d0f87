// Per-gptq_ctx Vulkan state: the device, the pipelines built once for it, and the stage
// timings of the last operation when profiling is on (bench/). Shared (shared_ptr) by the
// backend, its Hessian states and its resident layers, so none outlives the device.
#pragma once

#include "backends/vulkan/vk_device.h"
#include "backends/vulkan/vk_pipelines.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gptq::vk {

struct StageTime {
    std::string stage;
    double ms = 0.0;
};

// Which small-m matmul kernel to use: one invocation per output feature, or a subgroup per
// feature with a subgroup reduction over k (few features, long k).
enum class GemvKernel { Auto, PerFeature, Subgroup };

struct Context {
    Context(int device_index, const void *cache, size_t cache_size)
        : device(device_index), pipelines(device, cache, cache_size) {}
    Device device;
    Pipelines pipelines;
    bool profiling = false;
    GemvKernel gemv = GemvKernel::Auto;  // tests force each kernel            // record timestamps (when the queue supports them)
    std::vector<StageTime> stage_times;  // accumulated per stage label since the last clear
};

} // namespace gptq::vk
