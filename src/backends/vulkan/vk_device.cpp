#include "backends/vulkan/vk_device.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gptq::vk {

namespace {

std::atomic<uint64_t> g_validation_messages{0};

bool validation_requested() {
    const char *v = std::getenv("GPTQ_VULKAN_VALIDATION");
    return v && *v && std::strcmp(v, "0") != 0;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                VkDebugUtilsMessageTypeFlagsEXT,
                                                const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                void *) {
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        g_validation_messages.fetch_add(1);
        std::fprintf(stderr, "libgptq vulkan validation: %s\n",
                     data && data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

bool has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, nullptr) != VK_SUCCESS) return false;
    std::vector<VkLayerProperties> layers(n);
    if (vkEnumerateInstanceLayerProperties(&n, layers.data()) != VK_SUCCESS) return false;
    for (const auto &l : layers)
        if (std::strcmp(l.layerName, name) == 0) return true;
    return false;
}

bool has_instance_extension(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr) != VK_SUCCESS) return false;
    std::vector<VkExtensionProperties> exts(n);
    if (vkEnumerateInstanceExtensionProperties(nullptr, &n, exts.data()) != VK_SUCCESS)
        return false;
    for (const auto &e : exts)
        if (std::strcmp(e.extensionName, name) == 0) return true;
    return false;
}

// Queue family with compute support, preferring a compute-only one; -1 if none.
int compute_family(VkPhysicalDevice pd) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
    std::vector<VkQueueFamilyProperties> fams(n);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fams.data());
    int best = -1;
    for (uint32_t i = 0; i < n; ++i) {
        if (!(fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || fams[i].queueCount == 0) continue;
        if (best < 0 || !(fams[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = int(i);
    }
    return best;
}

bool usable(VkPhysicalDevice pd) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    return p.apiVersion >= VK_API_VERSION_1_1 && compute_family(pd) >= 0;
}

std::vector<VkPhysicalDevice> usable_devices(VkInstance inst) {
    uint32_t n = 0;
    if (vkEnumeratePhysicalDevices(inst, &n, nullptr) != VK_SUCCESS) return {};
    std::vector<VkPhysicalDevice> all(n);
    if (vkEnumeratePhysicalDevices(inst, &n, all.data()) != VK_SUCCESS) return {};
    std::vector<VkPhysicalDevice> out;
    for (VkPhysicalDevice pd : all)
        if (usable(pd)) out.push_back(pd);
    return out;
}

VkResult make_instance(bool validation, bool debug_utils, VkInstance *out) {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "libgptq";
    app.pEngineName = "libgptq";
    app.apiVersion = VK_API_VERSION_1_1;
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ci.enabledLayerCount = validation ? 1 : 0;
    ci.ppEnabledLayerNames = validation ? &layer : nullptr;
    ci.enabledExtensionCount = debug_utils ? 1 : 0;
    ci.ppEnabledExtensionNames = debug_utils ? &ext : nullptr;
    return vkCreateInstance(&ci, nullptr, out);
}

} // namespace

uint64_t validation_message_count() { return g_validation_messages.load(); }

bool validation_strict() {
    const char *v = std::getenv("GPTQ_VULKAN_VALIDATION");
    return v && std::strcmp(v, "2") == 0;
}

int count_usable_devices() {
    VkInstance inst = VK_NULL_HANDLE;
    if (make_instance(false, false, &inst) != VK_SUCCESS) return 0;
    const int n = int(usable_devices(inst).size());
    vkDestroyInstance(inst, nullptr);
    return n;
}

bool usable_device_is_hardware(int index) {
    VkInstance inst = VK_NULL_HANDLE;
    if (make_instance(false, false, &inst) != VK_SUCCESS) return false;
    const std::vector<VkPhysicalDevice> devs = usable_devices(inst);
    bool hw = false;
    if (index >= 0 && size_t(index) < devs.size()) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[size_t(index)], &p);
        hw = p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
    }
    vkDestroyInstance(inst, nullptr);
    return hw;
}

Device::Device(int index) {
    const bool validation = validation_requested() && has_layer("VK_LAYER_KHRONOS_validation");
    const bool debug_utils = validation_requested() &&
                             has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    VkResult r = make_instance(validation, debug_utils, &instance_);
    if (r != VK_SUCCESS) {
        instance_ = VK_NULL_HANDLE;
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "Vulkan backend: cannot create a Vulkan 1.1 instance (%s): is a Vulkan driver "
             "installed?",
             result_name(r));
    }
    try {
        if (debug_utils) {
            auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
                vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
            VkDebugUtilsMessengerCreateInfoEXT mi{
                VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
            mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                 VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
            mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                             VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                             VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
            mi.pfnUserCallback = on_debug_message;
            if (create) check(create(instance_, &mi, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
        }
        const std::vector<VkPhysicalDevice> devs = usable_devices(instance_);
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
        VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
        p2.pNext = &sg;
        vkGetPhysicalDeviceProperties2(phys_, &p2);
        subgroup_size_ = sg.subgroupSize ? sg.subgroupSize : 1;
        subgroup_arith_ = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
        queue_family_ = uint32_t(compute_family(phys_));

        uint32_t nf = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nf, nullptr);
        std::vector<VkQueueFamilyProperties> fams(nf);
        vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nf, fams.data());
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
    } catch (...) {
        destroy();
        throw;
    }
}

Device::~Device() { destroy(); }

void Device::destroy() {
    if (device_) {
        vkDeviceWaitIdle(device_);
        if (pool_) vkDestroyCommandPool(device_, pool_, nullptr);
        vkDestroyDevice(device_, nullptr);
    }
    if (messenger_) {
        auto destroy_fn = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy_fn) destroy_fn(instance_, messenger_, nullptr);
    }
    if (instance_) vkDestroyInstance(instance_, nullptr);
    device_ = VK_NULL_HANDLE;
    pool_ = VK_NULL_HANDLE;
    messenger_ = VK_NULL_HANDLE;
    instance_ = VK_NULL_HANDLE;
}

int Device::find_memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const {
    for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i)
        if ((type_bits & (1u << i)) && (mem_props_.memoryTypes[i].propertyFlags & want) == want)
            return int(i);
    return -1;
}

} // namespace gptq::vk
