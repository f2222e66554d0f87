// Instance, physical-device selection, logical device, compute queue and command pool.
// With GPTQ_VULKAN_VALIDATION=1 (or 2, see validation_strict) in the environment the Khronos validation layer is enabled
// (if installed) and a debug-utils messenger counts every warning/error it reports, so tests
// can fail on any validation message.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gptq::vk {

// Validation messages (warning or error severity) seen by any Device in this process.
uint64_t validation_message_count();
// GPTQ_VULKAN_VALIDATION=2: every operation that triggered a validation message fails with
// GPTQ_ERR_INTERNAL, so test suites that only see statuses fail on them too.
bool validation_strict();


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

    // Memory type index with all `want` flags among type_bits, or -1.
    int find_memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const;

private:
    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
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

    void destroy();
};

// Number of usable devices (0 if Vulkan is not installed). Never throws.
int count_usable_devices();
// Whether usable device `index` is a real GPU rather than a CPU implementation such as
// lavapipe (which AUTO passes over: the CPU backend is faster on the same cores). Never throws.
bool usable_device_is_hardware(int index);

} // namespace gptq::vk
