// Per-device memory arena: buffers are sub-allocated from a few large VkDeviceMemory blocks
// (one RangeAllocator each) instead of one vkAllocateMemory per buffer, so a context makes
// O(1) driver allocations however many buffers it creates, and stays far below
// maxMemoryAllocationCount (often 4096). Requests of kDedicatedBytes or more get a block of
// their own, released with them; an emptied shared block is released too, except the last
// one of its memory type, which stays for the next buffer. Host-visible blocks are mapped
// once, for their lifetime.
#pragma once

#include "backends/vulkan/vk_range_allocator.h"

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace gptq::vk {

class MemoryArena {
public:
    static constexpr uint64_t kBlockBytes = uint64_t(64) << 20;
    static constexpr uint64_t kDedicatedBytes = uint64_t(32) << 20;

    struct Block;
    struct Allocation {
        Block *block = nullptr;
        VkDeviceMemory memory = VK_NULL_HANDLE;
        uint64_t offset = 0, size = 0;
        void *mapped = nullptr;  // host address of offset (host-visible memory only)
    };

    // device_address: allocate every block with VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT, as
    // buffers with device addresses need (Device::has_buffer_address()).
    MemoryArena(VkDevice dev, const VkPhysicalDeviceMemoryProperties &props,
                uint32_t max_allocations, uint64_t max_allocation_size,
                bool device_address = false);
    ~MemoryArena();
    MemoryArena(const MemoryArena &) = delete;
    MemoryArena &operator=(const MemoryArena &) = delete;

    // Memory for `req` of memory type `type`. Throws Error(GPTQ_ERR_DEVICE_OUT_OF_MEMORY)
    // when the driver refuses or the device's allocation count is reached; `what` names the
    // buffer in messages.
    Allocation allocate(const VkMemoryRequirements &req, uint32_t type, const char *what);
    void free(const Allocation &a);

    // Live VkDeviceMemory blocks of this arena.
    size_t blocks() const;
    uint32_t max_allocations() const { return max_allocations_; }

private:
    VkDevice dev_;
    VkPhysicalDeviceMemoryProperties props_;
    uint32_t max_allocations_;
    uint64_t max_allocation_size_;
    bool device_address_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Block>> blocks_;

    Block *new_block(uint32_t type, uint64_t size, bool dedicated, const char *what);
    void release_block(Block *b);
};

// vkAllocateMemory calls made by every arena of this process (white-box tests assert that
// repeated operations make none).
uint64_t device_memory_allocations();

} // namespace gptq::vk
