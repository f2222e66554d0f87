// Every compute pipeline of the backend, built per context from the embedded SPIR-V (with an
// optional pipeline-cache blob) on first use, plus the tile sizes the host needs to size its
// dispatches. One table (kernel_table() in vk_pipelines.cpp) gives each kernel's shader,
// bindings and specialization constants, built from the constants below, so host and
// shader read every tile size from the same place. A kernel may also be built in variants
// (other specialization constants, e.g. code width and row count of the matmul kernels).
#pragma once

#include "backends/vulkan/vk_device.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace gptq::vk {

enum class Kernel : int {
    MatmulGemv,
    MatmulGemvRuns,
    MatmulGemvRunsShuffle,  // only with subgroup shuffles and a power-of-two subgroup size
    MatmulGemvSubgroup,  // only created when the device has subgroup arithmetic
    MatmulGemm,
    HessianAccum,
    HessianScale,
    GroupParams,
    PrepPermute,
    DampDiag,
    CholDiag,
    CholPanel,
    TriInvGemm,
    GptqBlock,
    TrailingUpdate,
    PackCodes,
    PackZeros,
    MatmulDense,
    MatmulDirect,
    HessianBcast,  // this and the next only with subgroup shuffles and a power-of-two
    TrailingBcast,  // subgroup size
    GptqBlockBcast,  // (the same)
    Count
};

// Specialization constants (constant_id 0, 1) of the kernels that take them.
constexpr uint32_t kGemvWorkgroup = 64;
constexpr uint32_t kGemvKChunk = 256;
constexpr uint32_t kGemvWideOutputs = 16;  // NF x rows of the Wide matmul_gemv_runs* variants
constexpr uint32_t kGemvWideFeatures = 8;  // at most this many features per invocation (NF)
constexpr uint32_t kGemvMaxRows = 8;      // MAXM in matmul_gemv.comp, largest MROWS variant
constexpr uint32_t kGemvSgWorkgroup = 64;  // WG of matmul_gemv_sg.comp
constexpr uint32_t kDirectWorkgroup = 64;  // WG of matmul_direct.comp
constexpr uint32_t kDirectWideFeatures = 8;  // NF of its Wide variant, at most
constexpr uint32_t kDirectWideOutputs = 32;  // NF x MROWS of the Wide variant, at most
constexpr uint32_t kDirectMaxRows = 8;     // largest MROWS variant
constexpr uint32_t kGemmThreads = 8;      // TS: invocations per tile side of matmul_gemm.comp
constexpr uint32_t kGemmPerThread = 8;    // R: outputs per invocation per side
constexpr uint32_t kGemmTile = kGemmThreads * kGemmPerThread;  // T
// The tiled kernels (hessian_accum, trailing_update) run
// kTileThreads x kTileThreads invocations, each owning a few outputs per side.
constexpr uint32_t kTileThreads = 16;     // TS
constexpr uint32_t kTileStep = 16;        // TT / TB / TP: reduction entries staged per step
constexpr uint32_t kHessianPerThread = 4; // R of hessian_accum.comp
constexpr uint32_t kHessianTile = kTileThreads * kHessianPerThread;  // T
constexpr uint32_t kBlockWorkgroup = 32;  // rows per workgroup of gptq_block.comp
constexpr uint32_t kBlockSharedCols = 128;  // BMAX: blocks up to this width run in shared memory
constexpr uint32_t kTrailingPerThread = 4;  // R of trailing_update.comp
constexpr uint32_t kTrailingCols = kTileThreads * kTrailingPerThread;  // TC
constexpr uint32_t kTrailingRows = kTileThreads * kTrailingPerThread;  // TN
// Shared memory of every kernel, from the same constants, within the 16 KiB that Vulkan
// guarantees (maxComputeSharedMemorySize >= 16384), so no device rejects a pipeline; the
// GEMV row variants size their X chunk from the device's actual limit.
// hessian_bcast.comp (no shared memory): WG invocations of 4 columns each, RI rows.
constexpr uint32_t kHessianBcastWorkgroup = 16;  // WG
constexpr uint32_t kHessianBcastRows = 64;       // RI
constexpr uint32_t kHessianBcastCols = 4 * kHessianBcastWorkgroup;  // columns per workgroup
// trailing_bcast.comp (no shared memory): WG invocations of 4 rows n each, RI columns c.
constexpr uint32_t kTrailingBcastWorkgroup = 16;  // WG
constexpr uint32_t kTrailingBcastCols = 64;       // RI
// gptq_block_bcast.comp: rows per workgroup, columns per register group.
constexpr uint32_t kBlockBcastWorkgroup = 32;  // WG
constexpr uint32_t kBlockBcastGroup = 8;       // G
constexpr uint32_t kMinSharedBytes = 16384;
static_assert(2 * kTileStep * kHessianTile * 4 <= kMinSharedBytes, "hessian_accum");
static_assert(2 * kTileStep * kTrailingCols * 4 <= kMinSharedBytes, "trailing_update");
static_assert(kBlockSharedCols * kBlockWorkgroup * 4 <= kMinSharedBytes, "gptq_block");
static_assert(2 * 32 * kGemmTile * 4 <= kMinSharedBytes, "matmul_gemm");
static_assert(kGemvMaxRows * kGemvKChunk * 4 <= kMinSharedBytes, "matmul_gemv");
// The inverse-Hessian factor (chol_diag, chol_panel, tri_inv_gemm; shaders/factor_tiles.glsl):
// blocks of kFactorBlock rows, each tile computed by kFactorThreads^2 invocations.
constexpr uint32_t kFactorBlock = 64;   // NB
constexpr uint32_t kFactorThreads = 8;  // TS
// TK, reduction entries per staged chunk: two chunks of both operands take 2 TK NB floats of
// shared memory. The guaranteed 16 KiB holds TK = NB / 2 (also the least the kernels need: one
// NB x NB tile); devices with 32 KiB (lavapipe, most desktop GPUs) get TK = NB, half the
// barriers per product.
constexpr uint32_t kFactorStepMin = kFactorBlock / 2;
constexpr uint32_t kFactorStepWide = kFactorBlock;
constexpr uint32_t factor_shared_bytes(uint32_t step) { return 2 * step * kFactorBlock * 4; }
static_assert(factor_shared_bytes(kFactorStepMin) <= kMinSharedBytes, "factor tiles");
static_assert(kFactorBlock % kFactorThreads == 0 && kFactorBlock % kFactorStepWide == 0, "whole tiles");
static_assert(kFactorBlock <= kFactorThreads * kFactorThreads, "chol_diag: a row per invocation");
static_assert((kFactorBlock / kFactorThreads) % 4 == 0, "each invocation's runs are whole vec4s");
// Loop iterations one invocation may run: llvmpipe (lavapipe) silently ends an invocation
// after 65535 iterations, so long searches and wide blocks are split across dispatches.
constexpr uint32_t kLoopBudget = 32768;
// Push-constant offset of the buffer addresses of an addressed build (gptq_addr in
// shaders/push_constants.glsl): one 8-byte address per binding, up to the 128-byte minimum.
constexpr uint32_t kAddressPushOffset = 64;
constexpr uint32_t kMaxAddressedBindings = (128 - kAddressPushOffset) / 8;

class Pipelines {
public:
    // cache/cache_size: a blob from cache_blob() of a previous run, or null. A blob made by
    // another device or driver is ignored (checked against the header, not trusted).
    Pipelines(const Device &dev, const void *cache, size_t cache_size);
    ~Pipelines();
    Pipelines(const Pipelines &) = delete;
    Pipelines &operator=(const Pipelines &) = delete;

    // The kernel's pipeline with its table specialization, or with `spec` (built on first use).
    VkPipeline pipeline(Kernel k) const;
    VkPipeline pipeline(Kernel k, const std::vector<uint32_t> &spec) const;
    // The build of k that reads its buffers through device addresses pushed at
    // kAddressPushOffset (shaders/addressed.glsl), for buffers beyond the storage range.
    VkPipeline addressed_pipeline(Kernel k, const std::vector<uint32_t> &spec) const;
    bool has_addressed(Kernel k) const { return entries_[int(k)].addressed; }
    const char *shader(Kernel k) const { return entries_[int(k)].shader; }
    // Whether the device can run the kernel (the subgroup GEMV needs subgroup arithmetic).
    bool has(Kernel k) const { return entries_[int(k)].layout != VK_NULL_HANDLE; }
    // The table's specialization constants of k.
    const std::vector<uint32_t> &spec(Kernel k) const { return entries_[int(k)].spec; }
    // Features per workgroup of matmul_gemv_sg.comp (its NPW).
    uint32_t gemv_sg_features() const { return gemv_sg_features_; }
    VkPipelineLayout layout(Kernel k) const { return entries_[int(k)].layout; }
    VkDescriptorSetLayout set_layout(Kernel k) const { return entries_[int(k)].set_layout; }
    uint32_t n_bindings(Kernel k) const { return entries_[int(k)].n_bindings; }

    std::vector<uint8_t> cache_blob() const;

private:
    struct Entry {
        const char *shader = nullptr;
        VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
        VkPipelineLayout layout = VK_NULL_HANDLE;
        VkShaderModule module = VK_NULL_HANDLE;  // kept for later variants
        std::vector<uint32_t> spec;
        std::map<std::vector<uint32_t>, VkPipeline> variants;
        uint32_t n_bindings = 0;
        bool addressed = false;  // <shader>_addr is embedded and the device has addresses
        VkShaderModule addr_module = VK_NULL_HANDLE;
        std::map<std::vector<uint32_t>, VkPipeline> addr_variants;
    };
    const Device &dev_;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    uint32_t gemv_sg_features_ = 1;
    mutable std::mutex mutex_;  // guards lazy creation
    mutable Entry entries_[int(Kernel::Count)];

    void declare(Kernel k, const char *shader, uint32_t n_bindings, std::vector<uint32_t> spec);
    VkPipeline build(Entry &e, const std::vector<uint32_t> &spec, bool addressed) const;
    void destroy();
};

} // namespace gptq::vk
