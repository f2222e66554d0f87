// Physical-device selection, logical device, compute queue, command pool and the device's
// memory arena, on the process-wide instance (vk_instance.h, which also holds validation).
#pragma once

#include "backends/vulkan/vk_instance.h"
#include "backends/vulkan/vk_memory.h"

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gptq::vk {

class Device {
public:
    // Throws Error(GPTQ_ERR_BACKEND_UNAVAILABLE) if there is no usable device at index.
    explicit Device(int index);
    ~Device();
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    VkDevice handle() const { return device_; }
    VkPhysicalDevice physical() const { return phys_; }
    VkQueue queue() const { return queue_; }
    VkCommandPool command_pool() const { return pool_; }
    const VkPhysicalDeviceProperties &props() const { return props_; }
    const std::string &name() const { return name_; }
    bool has_timestamps() const { return timestamps_; }
    // Subgroup size and whether compute shaders have subgroup arithmetic (subgroupAdd).
    uint32_t subgroup_size() const { return subgroup_size_; }
    bool has_subgroup_arithmetic() const { return subgroup_arith_; }
    bool has_subgroup_shuffle() const { return subgroup_shuffle_; }

    // Storage-buffer bytes one binding may cover: maxStorageBufferRange, or less when
    // GPTQ_VULKAN_MAX_BUFFER_RANGE says so (tests of the split paths).
    uint64_t max_storage_range() const { return max_storage_range_; }
    uint64_t max_allocation_size() const { return max_allocation_size_; }
    // Largest VkBuffer (maxBufferSize of maintenance4; the allocation limit without it).
    uint64_t max_buffer_size() const { return max_buffer_size_; }
    // Whether buffers have device addresses (VK_KHR_buffer_device_address, enabled when the
    // device has it): the quantizer's kernels then read buffers larger than
    // max_storage_range() through them (shaders/addressed.glsl).
    bool has_buffer_address() const { return buffer_address_; }
    VkDeviceAddress buffer_address(VkBuffer b) const;
    // One line naming the limits the backend plans with (storage range, allocation and
    // buffer size, allocation count, shared memory, buffer addresses), for logs and info.
    std::string limits_summary() const;
    // Sub-allocator of every Buffer on this device (shared by const users: it is a pool).
    MemoryArena &arena() const { return *arena_; }

    // Memory type index with all `want` flags among type_bits, or -1.
    int find_memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const;

private:
    std::shared_ptr<Instance> instance_;
    VkPhysicalDevice phys_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    VkPhysicalDeviceProperties props_{};
    VkPhysicalDeviceMemoryProperties mem_props_{};
    std::string name_;
    bool timestamps_ = false;
    uint32_t subgroup_size_ = 1;
    bool subgroup_arith_ = false;
    bool subgroup_shuffle_ = false;
    uint64_t max_storage_range_ = 0;
    uint64_t max_allocation_size_ = 0;
    uint64_t max_buffer_size_ = 0;
    bool buffer_address_ = false;
    PFN_vkGetBufferDeviceAddressKHR get_address_ = nullptr;
    std::unique_ptr<MemoryArena> arena_;

    void destroy();
};

} // namespace gptq::vk
