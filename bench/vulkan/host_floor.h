// The least a device round trip costs the host on this driver, whatever the library does:
// vkQueueSubmit of nothing (no command buffer, only the fence) or of one pre-recorded empty
// command buffer, then waiting for the fence, either blocking (vkWaitForFences) or polling
// vkGetFenceStatus. The per-call host cost of a matmul cannot go below these figures.
#pragma once

#include "backends/vulkan/vk_device.h"

namespace bench {

// Prints the median and minimum microseconds per round trip of each variant (`calls` each,
// variants interleaved so load changes on a shared machine hit them alike).
void print_host_floor(const gptq::vk::Device &dev, int calls);

} // namespace bench
