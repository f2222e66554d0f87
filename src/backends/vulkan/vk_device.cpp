#include "backends/vulkan/vk_device.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <algorithm>
#include <cstdio>
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

// GPTQ_VULKAN_NO_BUFFER_ADDRESS=1 leaves buffer device addresses off, as on a device
// without them (tests of the error for buffers beyond the storage range).
bool buffer_address_disabled() {
    const char *v = std::getenv("GPTQ_VULKAN_NO_BUFFER_ADDRESS");
    return v && *v && std::strcmp(v, "0") != 0;
}

bool has_extension(VkPhysicalDevice phys, const char *name) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(phys, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> exts(n);
    vkEnumerateDeviceExtensionProperties(phys, nullptr, &n, exts.data());
    for (const VkExtensionProperties &e : exts)
        if (std::strcmp(e.extensionName, name) == 0) return true;
    return false;
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
        // maxBufferSize is only known with maintenance4 (the struct may only be chained then).
        VkPhysicalDeviceMaintenance4PropertiesKHR m4{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES_KHR};
        if (has_extension(phys_, VK_KHR_MAINTENANCE_4_EXTENSION_NAME)) m3.pNext = &m4;
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

        VkPhysicalDeviceBufferDeviceAddressFeaturesKHR bda{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES_KHR};
        const bool bda_ext = !buffer_address_disabled() &&
                             has_extension(phys_, VK_KHR_BUFFER_DEVICE_ADDRESS_EXTENSION_NAME);
        if (bda_ext) {
            VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
            f2.pNext = &bda;
            vkGetPhysicalDeviceFeatures2(phys_, &f2);
        }
        buffer_address_ = bda_ext && bda.bufferDeviceAddress;
        // Only the feature the backend uses: no capture/replay, no multi-device.
        VkPhysicalDeviceBufferDeviceAddressFeaturesKHR bda_on{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES_KHR};
        bda_on.bufferDeviceAddress = VK_TRUE;
        const char *bda_name = VK_KHR_BUFFER_DEVICE_ADDRESS_EXTENSION_NAME;

        const float prio = 1.0f;
        VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
        qi.queueFamilyIndex = queue_family_;
        qi.queueCount = 1;
        qi.pQueuePriorities = &prio;
        VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
        di.queueCreateInfoCount = 1;
        di.pQueueCreateInfos = &qi;
        if (buffer_address_) {
            di.enabledExtensionCount = 1;
            di.ppEnabledExtensionNames = &bda_name;
            di.pNext = &bda_on;
        }
        check(vkCreateDevice(phys_, &di, nullptr, &device_), "vkCreateDevice");
        if (buffer_address_) {
            get_address_ = reinterpret_cast<PFN_vkGetBufferDeviceAddressKHR>(
                vkGetDeviceProcAddr(device_, "vkGetBufferDeviceAddressKHR"));
            buffer_address_ = get_address_ != nullptr;
        }
        vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

        VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT |
                   VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
        pi.queueFamilyIndex = queue_family_;
        check(vkCreateCommandPool(device_, &pi, nullptr, &pool_), "vkCreateCommandPool");
        max_allocation_size_ = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize
                                                          : ~uint64_t(0);
        max_buffer_size_ = m4.maxBufferSize ? uint64_t(m4.maxBufferSize) : max_allocation_size_;
        arena_ = std::make_unique<MemoryArena>(device_, mem_props_,
                                               props_.limits.maxMemoryAllocationCount,
                                               max_allocation_size_, buffer_address_);
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

VkDeviceAddress Device::buffer_address(VkBuffer b) const {
    if (!buffer_address_) return 0;
    VkBufferDeviceAddressInfoKHR info{VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO_KHR};
    info.buffer = b;
    return get_address_(device_, &info);
}

std::string Device::limits_summary() const {
    const auto mib = [](uint64_t b) { return double(b) / double(1u << 20); };
    char line[320];
    std::snprintf(line, sizeof line,
                  "storage range %llu B%s, allocation %.0f MiB, buffer %.0f MiB, "
                  "%u allocations, %u B shared memory, buffer addresses %s",
                  (unsigned long long)max_storage_range_,
                  max_storage_range_ < props_.limits.maxStorageBufferRange ? " (lowered)" : "",
                  mib(max_allocation_size_), mib(max_buffer_size_),
                  props_.limits.maxMemoryAllocationCount,
                  props_.limits.maxComputeSharedMemorySize, buffer_address_ ? "yes" : "no");
    return line;
}

} // namespace gptq::vk
