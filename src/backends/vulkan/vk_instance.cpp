#include "backends/vulkan/vk_instance.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace gptq::vk {

namespace {

std::atomic<uint64_t> g_validation_messages{0};
std::atomic<uint64_t> g_instances_created{0};

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

bool usable(VkPhysicalDevice pd) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    return p.apiVersion >= VK_API_VERSION_1_1 && compute_family(pd) >= 0;
}

// The one live instance (weak: contexts and queries hold the strong references).
std::mutex g_mutex;
std::weak_ptr<Instance> g_live;

// Availability answers, computed once per process (device lists do not change under us)
// on the live instance if there is one.
std::vector<bool> g_hardware;  // per usable device: a real GPU rather than a CPU driver

const std::vector<bool> &usable_hardware() {
    static std::once_flag once;
    std::call_once(once, [] {
        std::shared_ptr<Instance> inst;
        try {
            inst = Instance::acquire();
        } catch (const Error &) {
            return;
        }
        for (VkPhysicalDevice pd : inst->usable_devices()) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pd, &p);
            g_hardware.push_back(p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU);
        }
    });
    return g_hardware;
}

} // namespace

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

std::shared_ptr<Instance> Instance::acquire() {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (std::shared_ptr<Instance> live = g_live.lock()) return live;

    const bool validation = validation_requested() && has_layer("VK_LAYER_KHRONOS_validation");
    const bool debug_utils =
        validation_requested() && has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
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

    std::shared_ptr<Instance> inst(new Instance());
    const VkResult r = vkCreateInstance(&ci, nullptr, &inst->instance_);
    if (r != VK_SUCCESS) {
        inst->instance_ = VK_NULL_HANDLE;
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "Vulkan backend: cannot create a Vulkan 1.1 instance (%s): is a Vulkan driver "
             "installed?",
             result_name(r));
    }
    g_instances_created.fetch_add(1);
    if (debug_utils) {
        auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(inst->instance_, "vkCreateDebugUtilsMessengerEXT"));
        VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
        mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                             VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
        mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        mi.pfnUserCallback = on_debug_message;
        if (create)
            check(create(inst->instance_, &mi, nullptr, &inst->messenger_),
                  "vkCreateDebugUtilsMessengerEXT");
    }
    uint32_t n = 0;
    if (vkEnumeratePhysicalDevices(inst->instance_, &n, nullptr) == VK_SUCCESS) {
        std::vector<VkPhysicalDevice> all(n);
        if (vkEnumeratePhysicalDevices(inst->instance_, &n, all.data()) == VK_SUCCESS)
            for (VkPhysicalDevice pd : all)
                if (usable(pd)) inst->devices_.push_back(pd);
    }
    g_live = inst;
    return inst;
}

Instance::~Instance() {
    if (messenger_) {
        auto destroy_fn = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy_fn) destroy_fn(instance_, messenger_, nullptr);
    }
    if (instance_) vkDestroyInstance(instance_, nullptr);
}

uint64_t instances_created() { return g_instances_created.load(); }

uint64_t validation_message_count() { return g_validation_messages.load(); }

bool validation_strict() {
    const char *v = std::getenv("GPTQ_VULKAN_VALIDATION");
    return v && std::strcmp(v, "2") == 0;
}

int count_usable_devices() { return int(usable_hardware().size()); }

bool usable_device_is_hardware(int index) {
    const std::vector<bool> &hw = usable_hardware();
    return index >= 0 && size_t(index) < hw.size() && hw[size_t(index)];
}

} // namespace gptq::vk
