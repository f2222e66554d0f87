// VkResult -> gptq::Error: device OOM and host OOM keep their own statuses, every other
// failure is GPTQ_ERR_DEVICE with the failing call named.
#pragma once

#include <vulkan/vulkan.h>

namespace gptq::vk {

[[noreturn]] void fail_vk(VkResult r, const char *what);

inline void check(VkResult r, const char *what) {
    if (r != VK_SUCCESS) fail_vk(r, what);
}

const char *result_name(VkResult r);

} // namespace gptq::vk
