#include "backends/vulkan/vk_device.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace gptq::vk {

namespace {

// GPTQ_VULKAN_MAX_BUFFER_RANGE=<bytes> lowers the storage-buffer range the backend plans
// with (never raises it), so tests exercise the split paths on small shapes.
uint64_t storage_range_override() {
    const char *v = std::getenv("GPTQ_VULKAN_MAX_BUFFER_RANGE");
    if (!v || !*v) return 0;
    char *end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    return end && *end == '\0' ? uint64_t(n) : 0;
}

} // namespace

Device::Device(int index) {
    instance_ = Instance::acquire();
    try {
        const std::vector<VkPhysicalDevice> &devs = instance_->usable_devices();
        if (devs.empty())
            fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
                 "Vulkan backend: no Vulkan 1.1 device with a compute queue was found");
        if (index < 0 || size_t(index) >= devs.size())
            fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
                 "Vulkan backend: device_index %d out of range (%zu usable device%s)", index,
                 devs.size(), devs.size() == 1 ? "" : "s");
        phys_ = devs[size_t(index)];
        vkGetPhysicalDeviceProperties(phys_, &props_);
        vkGetPhysicalDeviceMemoryProperties(phys_, &mem_props_);
        name_ = props_.deviceName;
        VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        VkPhysicalDeviceMaintenance3Properties m3{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
        sg.pNext = &m3;
        VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
        p2.pNext = &sg;
        vkGetPhysicalDeviceProperties2(phys_, &p2);
        subgroup_size_ = sg.subgroupSize ? sg.subgroupSize : 1;
        subgroup_arith_ = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
        subgroup_shuffle_ = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                            (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) &&
                            (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
        queue_family_ = uint32_t(compute_family(phys_));

        uint32_t nf = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nf, nullptr);
        std::vector<VkQueueFamilyProperties> fams(nf);
        vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nf, fams.data());
        max_storage_range_ = props_.limits.maxStorageBufferRange;
        if (const uint64_t o = storage_range_override())
            max_storage_range_ = std::max<uint64_t>(256, std::min(o, max_storage_range_));
        timestamps_ = fams[queue_family_].timestampValidBits > 0 && props_.limits.timestampPeriod > 0;

        const float prio = 1.0f;
        VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
        qi.queueFamilyIndex = queue_family_;
        qi.queueCount = 1;
        qi.pQueuePriorities = &prio;
        VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
        di.queueCreateInfoCount = 1;
        di.pQueueCreateInfos = &qi;
        check(vkCreateDevice(phys_, &di, nullptr, &device_), "vkCreateDevice");
        vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

        VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT |
                   VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
        pi.queueFamilyIndex = queue_family_;
        check(vkCreateCommandPool(device_, &pi, nullptr, &pool_), "vkCreateCommandPool");
        max_allocation_size_ = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize
                                                          : ~uint64_t(0);
        arena_ = std::make_unique<MemoryArena>(device_, mem_props_,
                                               props_.limits.maxMemoryAllocationCount,
                                               max_allocation_size_);
    } catch (...) {
        destroy();
        throw;
    }
}

Device::~Device() { destroy(); }

void Device::destroy() {
    if (device_) {
        vkDeviceWaitIdle(device_);
        arena_.reset();
        if (pool_) vkDestroyCommandPool(device_, pool_, nullptr);
        vkDestroyDevice(device_, nullptr);
    }
    device_ = VK_NULL_HANDLE;
    pool_ = VK_NULL_HANDLE;
    instance_.reset();
}

int Device::find_memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const {
    for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i)
        if ((type_bits & (1u << i)) && (mem_props_.memoryTypes[i].propertyFlags & want) == want)
            return int(i);
    return -1;
}

} // namespace gptq::vk
