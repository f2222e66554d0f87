// Every compute pipeline of the backend, created once per context from the embedded SPIR-V
// (with an optional pipeline-cache blob), plus the tile sizes the host needs to size its
// dispatches (passed to the shaders as specialization constants, so both sides agree).
#pragma once

#include "backends/vulkan/vk_device.h"

#include <cstdint>
#include <vector>

namespace gptq::vk {

enum class Kernel : int {
    MatmulGemv,
    MatmulGemvSubgroup,  // only created when the device has subgroup arithmetic
    MatmulGemm,
    HessianAccum,
    HessianScale,
    GroupParams,
    PrepPermute,
    DampDiag,
    CholDiag,
    CholPanel,
    CholUpdate,
    TriInvGemm,
    TriInvBlock,
    ToUpper,
    GptqBlock,
    TrailingUpdate,
    PackCodes,
    PackZeros,
    MatmulDense,
    Count
};

// Specialization constants (constant_id 0, 1) of the kernels that take them.
constexpr uint32_t kGemvWorkgroup = 64;
constexpr uint32_t kGemvKChunk = 256;
constexpr uint32_t kGemvMaxRows = 8;      // MAXM in matmul_gemv*.comp
constexpr uint32_t kGemvSgWorkgroup = 64;  // WG of matmul_gemv_sg.comp
constexpr uint32_t kGemmTile = 64;        // TM = TN in matmul_gemm.comp
constexpr uint32_t kHessianTile = 64;  // T of hessian_accum.comp
constexpr uint32_t kCholBlock = 32;       // NB
constexpr uint32_t kBlockWorkgroup = 32;  // rows per workgroup of gptq_block.comp
constexpr uint32_t kBlockSharedCols = 128;  // BMAX: blocks up to this width run in shared memory
constexpr uint32_t kTrailingCols = 64;    // TC of trailing_update.comp
constexpr uint32_t kTrailingRows = 64;    // TN
constexpr uint32_t kTriInvBlock = 32;     // rows per blocked-inverse step (TR)
constexpr uint32_t kTriInvCols = 64;      // TJ: columns per tri_inv_gemm workgroup
constexpr uint32_t kCholUpdateTile = 64;  // T of chol_update.comp
// Loop iterations one invocation may run: llvmpipe (lavapipe) silently ends an invocation
// after 65535 iterations, so long searches and wide blocks are split across dispatches.
constexpr uint32_t kLoopBudget = 32768;

class Pipelines {
public:
    // cache/cache_size: a blob from cache_blob() of a previous run, or null. A blob made by
    // another device or driver is ignored (checked against the header, not trusted).
    Pipelines(const Device &dev, const void *cache, size_t cache_size);
    ~Pipelines();
    Pipelines(const Pipelines &) = delete;
    Pipelines &operator=(const Pipelines &) = delete;

    VkPipeline pipeline(Kernel k) const { return entries_[int(k)].pipeline; }
    bool has(Kernel k) const { return entries_[int(k)].pipeline != VK_NULL_HANDLE; }
    // Features per workgroup of matmul_gemv_sg.comp (its NPW).
    uint32_t gemv_sg_features() const { return gemv_sg_features_; }
    VkPipelineLayout layout(Kernel k) const { return entries_[int(k)].layout; }
    VkDescriptorSetLayout set_layout(Kernel k) const { return entries_[int(k)].set_layout; }
    uint32_t n_bindings(Kernel k) const { return entries_[int(k)].n_bindings; }

    std::vector<uint8_t> cache_blob() const;

private:
    struct Entry {
        VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
        VkPipelineLayout layout = VK_NULL_HANDLE;
        VkPipeline pipeline = VK_NULL_HANDLE;
        uint32_t n_bindings = 0;
    };
    const Device &dev_;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    uint32_t gemv_sg_features_ = 1;
    Entry entries_[int(Kernel::Count)];

    void create(Kernel k, const char *shader, uint32_t n_bindings, std::vector<uint32_t> spec);
    void destroy();
};

} // namespace gptq::vk
