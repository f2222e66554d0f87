// The process-wide VkInstance. Every context and every availability query shares one
// reference-counted instance (created on first use, destroyed with its last user), and the
// answers of the availability queries are computed once per process. With
// GPTQ_VULKAN_VALIDATION set the instance enables the Khronos validation layer (if
// installed) and a debug-utils messenger counts every warning/error it reports.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace gptq::vk {

class Instance {
public:
    // The live instance, or a new one. Throws Error(GPTQ_ERR_BACKEND_UNAVAILABLE) when no
    // Vulkan 1.1 instance can be created.
    static std::shared_ptr<Instance> acquire();
    ~Instance();
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;

    VkInstance handle() const { return instance_; }
    // Vulkan 1.1 devices with a compute queue, in enumeration order.
    const std::vector<VkPhysicalDevice> &usable_devices() const { return devices_; }

private:
    Instance() = default;
    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    std::vector<VkPhysicalDevice> devices_;
};

// Queue family with compute support, preferring a compute-only one; -1 if none.
int compute_family(VkPhysicalDevice pd);

// VkInstances this process has created (white-box tests check that they are shared).
uint64_t instances_created();

// Validation messages (warning or error severity) seen by any instance in this process.
uint64_t validation_message_count();
// GPTQ_VULKAN_VALIDATION=2: every operation that triggered a validation message fails with
// GPTQ_ERR_INTERNAL, so test suites that only see statuses fail on them too.
bool validation_strict();

// Number of usable devices (0 if Vulkan is not installed). Never throws.
int count_usable_devices();
// Whether usable device `index` is a real GPU rather than a CPU implementation such as
// lavapipe (which AUTO passes over: the CPU backend is faster on the same cores). Never throws.
bool usable_device_is_hardware(int index);

} // namespace gptq::vk
