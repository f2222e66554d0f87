#include "backends/vulkan/vk_pipelines.h"

#include "backends/vulkan/vk_check.h"
#include "backends/vulkan/vk_push_constants.h"
#include "backends/vulkan/vk_spirv.h"
#include "core/error.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace gptq::vk {

namespace {

// Accepts a cache blob only if its header (VkPipelineCacheHeaderVersionOne) names this
// device and driver; anything else starts an empty cache.
bool cache_matches(const Device &dev, const void *data, size_t size) {
    if (!data || size < 16 + VK_UUID_SIZE) return false;
    const auto *b = static_cast<const uint8_t *>(data);
    uint32_t header_size, version, vendor, device;
    std::memcpy(&header_size, b, 4);
    std::memcpy(&version, b + 4, 4);
    std::memcpy(&vendor, b + 8, 4);
    std::memcpy(&device, b + 12, 4);
    return header_size >= 16 + VK_UUID_SIZE && header_size <= size &&
           version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           vendor == dev.props().vendorID && device == dev.props().deviceID &&
           std::memcmp(b + 16, dev.props().pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

} // namespace

Pipelines::Pipelines(const Device &dev, const void *cache, size_t cache_size) : dev_(dev) {
    try {
        VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
        if (cache_matches(dev, cache, cache_size)) {
            ci.initialDataSize = cache_size;
            ci.pInitialData = cache;
        }
        check(vkCreatePipelineCache(dev.handle(), &ci, nullptr, &cache_), "vkCreatePipelineCache");

        // The table: kernel, shader, bindings, specialization constants (constant_id 0, 1, ...).
        const uint32_t sg = dev.subgroup_size();
        gemv_sg_features_ = std::max<uint32_t>(1, kGemvSgWorkgroup / sg);
        declare(Kernel::MatmulGemv, "matmul_gemv", 5, {kGemvWorkgroup, kGemvKChunk});
        declare(Kernel::MatmulGemvRuns, "matmul_gemv_runs", 5,
                {kGemvWorkgroup, 1, kGemvKChunk, 4, sg, 1});
        if (dev.has_subgroup_shuffle() && sg >= 4 && sg <= 128 && (sg & (sg - 1)) == 0)
            declare(Kernel::MatmulGemvRunsShuffle, "matmul_gemv_runs_shuffle", 5,
                    {kGemvWorkgroup, 1, kGemvKChunk, 4, sg, 1});
        if (dev.has_subgroup_arithmetic())
            declare(Kernel::MatmulGemvSubgroup, "matmul_gemv_sg", 5,
                    {kGemvSgWorkgroup, 1, gemv_sg_features_, 4});
        declare(Kernel::MatmulGemm, "matmul_gemm", 5, {kGemmThreads, kGemmPerThread, 0, 4});
        declare(Kernel::HessianAccum, "hessian_accum", 2, {kTileThreads, kHessianPerThread, kTileStep});
        declare(Kernel::HessianScale, "hessian_scale", 2, {});
        declare(Kernel::GroupParams, "group_params", 5, {});
        declare(Kernel::PrepPermute, "prep_permute", 4, {});
        declare(Kernel::DampDiag, "damp_diag", 2, {});
        const uint32_t factor_step =
            dev.props().limits.maxComputeSharedMemorySize >= factor_shared_bytes(kFactorStepWide)
                ? kFactorStepWide : kFactorStepMin;
        const std::vector<uint32_t> factor_tiles{kFactorBlock, kFactorThreads, factor_step};
        declare(Kernel::CholDiag, "chol_diag", 3, factor_tiles);
        declare(Kernel::CholPanel, "chol_panel", 1, factor_tiles);
        declare(Kernel::TriInvGemm, "tri_inv_gemm", 3, factor_tiles);
        declare(Kernel::GptqBlock, "gptq_block", 7, {kBlockWorkgroup, kBlockSharedCols});
        declare(Kernel::TrailingUpdate, "trailing_update", 3,
                {kTileThreads, kTrailingPerThread, kTileStep});
        declare(Kernel::PackCodes, "pack_codes", 3, {});
        declare(Kernel::PackZeros, "pack_zeros", 2, {});
        declare(Kernel::MatmulDense, "matmul_dense", 3, {});
        if (dev.has_subgroup_shuffle() && sg >= 4 && sg <= 128 && (sg & (sg - 1)) == 0)
            declare(Kernel::MatmulDirect, "matmul_direct", 5, {kDirectWorkgroup, 1, 1, 4, sg});
        if (dev.has_subgroup_shuffle() && sg >= 4 && sg <= 128 && (sg & (sg - 1)) == 0)
            declare(Kernel::HessianBcast, "hessian_bcast", 2,
                    {kHessianBcastWorkgroup, kHessianBcastRows, GPTQ_X_F32, sg, 0});
        if (dev.has_subgroup_shuffle() && sg >= 4 && sg <= 128 && (sg & (sg - 1)) == 0)
            declare(Kernel::TrailingBcast, "trailing_bcast", 3,
                    {kTrailingBcastWorkgroup, kTrailingBcastCols, sg});
        if (dev.has_subgroup_shuffle() && sg >= 4 && sg <= 128 && (sg & (sg - 1)) == 0)
            declare(Kernel::GptqBlockBcast, "gptq_block_bcast", 7,
                    {kBlockBcastWorkgroup, kBlockBcastGroup, sg});
    } catch (...) {
        destroy();
        throw;
    }
}

Pipelines::~Pipelines() { destroy(); }

void Pipelines::declare(Kernel k, const char *shader, uint32_t n_bindings,
                        std::vector<uint32_t> spec) {
    if (!find_spirv(shader)) fail(GPTQ_ERR_INTERNAL, "Vulkan: shader %s was not embedded", shader);
    Entry &e = entries_[int(k)];
    e.shader = shader;
    e.n_bindings = n_bindings;
    e.spec = std::move(spec);
    e.addressed = dev_.has_buffer_address() && n_bindings <= kMaxAddressedBindings &&
                  find_spirv((std::string(shader) + "_addr").c_str()) != nullptr;
    const std::string what = std::string("creating pipeline layout of ") + shader;

    std::vector<VkDescriptorSetLayoutBinding> binds(n_bindings);
    for (uint32_t i = 0; i < n_bindings; ++i) {
        binds[i] = {};
        binds[i].binding = i;
        binds[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        binds[i].descriptorCount = 1;
        binds[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo li{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    li.bindingCount = n_bindings;
    li.pBindings = binds.data();
    check(vkCreateDescriptorSetLayout(dev_.handle(), &li, nullptr, &e.set_layout), what.c_str());

    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 128};
    VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &e.set_layout;
    pl.pushConstantRangeCount = 1;
    pl.pPushConstantRanges = &range;
    check(vkCreatePipelineLayout(dev_.handle(), &pl, nullptr, &e.layout), what.c_str());
}

VkPipeline Pipelines::build(Entry &e, const std::vector<uint32_t> &spec, bool addressed) const {
    const std::string name = std::string(e.shader) + (addressed ? "_addr" : "");
    const std::string what = "creating pipeline " + name;
    VkShaderModule &module = addressed ? e.addr_module : e.module;
    if (!module) {
        const SpirvBlob *blob = find_spirv(name.c_str());
        VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
        mi.codeSize = blob->n_words * 4;
        mi.pCode = blob->words;
        check(vkCreateShaderModule(dev_.handle(), &mi, nullptr, &module), what.c_str());
    }
    std::vector<VkSpecializationMapEntry> map(spec.size());
    for (size_t i = 0; i < spec.size(); ++i)
        map[i] = {uint32_t(i), uint32_t(i * 4), 4};
    VkSpecializationInfo si{uint32_t(map.size()), map.data(), spec.size() * 4, spec.data()};

    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = module;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = spec.empty() ? nullptr : &si;
    ci.layout = e.layout;
    VkPipeline pipe = VK_NULL_HANDLE;
    check(vkCreateComputePipelines(dev_.handle(), cache_, 1, &ci, nullptr, &pipe), what.c_str());
    (addressed ? e.addr_variants : e.variants).emplace(spec, pipe);
    return pipe;
}

VkPipeline Pipelines::pipeline(Kernel k) const { return pipeline(k, entries_[int(k)].spec); }

VkPipeline Pipelines::pipeline(Kernel k, const std::vector<uint32_t> &spec) const {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry &e = entries_[int(k)];
    if (!e.layout) fail(GPTQ_ERR_INTERNAL, "Vulkan: kernel %d is not available on this device", int(k));
    const auto it = e.variants.find(spec);
    return it != e.variants.end() ? it->second : build(e, spec, false);
}

VkPipeline Pipelines::addressed_pipeline(Kernel k, const std::vector<uint32_t> &spec) const {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry &e = entries_[int(k)];
    if (!e.addressed)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: kernel %d has no device-address build", int(k));
    const auto it = e.addr_variants.find(spec);
    return it != e.addr_variants.end() ? it->second : build(e, spec, true);
}

void Pipelines::destroy() {
    for (Entry &e : entries_) {
        for (const auto &v : e.variants) vkDestroyPipeline(dev_.handle(), v.second, nullptr);
        for (const auto &v : e.addr_variants) vkDestroyPipeline(dev_.handle(), v.second, nullptr);
        if (e.module) vkDestroyShaderModule(dev_.handle(), e.module, nullptr);
        if (e.addr_module) vkDestroyShaderModule(dev_.handle(), e.addr_module, nullptr);
        if (e.layout) vkDestroyPipelineLayout(dev_.handle(), e.layout, nullptr);
        if (e.set_layout) vkDestroyDescriptorSetLayout(dev_.handle(), e.set_layout, nullptr);
        e = Entry{};
    }
    if (cache_) vkDestroyPipelineCache(dev_.handle(), cache_, nullptr);
    cache_ = VK_NULL_HANDLE;
}

std::vector<uint8_t> Pipelines::cache_blob() const {
    size_t size = 0;
    check(vkGetPipelineCacheData(dev_.handle(), cache_, &size, nullptr), "vkGetPipelineCacheData");
    std::vector<uint8_t> blob(size);
    if (size) check(vkGetPipelineCacheData(dev_.handle(), cache_, &size, blob.data()),
                    "vkGetPipelineCacheData");
    blob.resize(size);
    return blob;
}

} // namespace gptq::vk
