#include "backends/vulkan/vk_memory.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <algorithm>
#include <atomic>
#include <string>

namespace gptq::vk {

namespace {
std::atomic<uint64_t> g_allocations{0};
} // namespace

struct MemoryArena::Block {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint32_t type = 0;
    bool dedicated = false;
    void *mapped = nullptr;
    RangeAllocator ranges;
    explicit Block(uint64_t size) : ranges(size) {}
};

uint64_t device_memory_allocations() { return g_allocations.load(); }

MemoryArena::MemoryArena(VkDevice dev, const VkPhysicalDeviceMemoryProperties &props,
                         uint32_t max_allocations, uint64_t max_allocation_size,
                         bool device_address)
    : dev_(dev), props_(props), max_allocations_(max_allocations),
      max_allocation_size_(max_allocation_size), device_address_(device_address) {}

MemoryArena::~MemoryArena() {
    for (auto &b : blocks_) {
        if (b->mapped) vkUnmapMemory(dev_, b->memory);
        vkFreeMemory(dev_, b->memory, nullptr);
    }
}

size_t MemoryArena::blocks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocks_.size();
}

MemoryArena::Block *MemoryArena::new_block(uint32_t type, uint64_t size, bool dedicated,
                                           const char *what) {
    if (blocks_.size() >= max_allocations_)
        fail(GPTQ_ERR_DEVICE_OUT_OF_MEMORY,
             "Vulkan: %s needs a new memory block but the device allows only %u allocations",
             what, max_allocations_);
    const std::string label = std::string("allocating ") + what;
    auto b = std::make_unique<Block>(size);
    b->type = type;
    b->dedicated = dedicated;
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = size;
    ai.memoryTypeIndex = type;
    VkMemoryAllocateFlagsInfo flags{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
    flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT_KHR;
    if (device_address_) ai.pNext = &flags;
    check(vkAllocateMemory(dev_, &ai, nullptr, &b->memory), label.c_str());
    g_allocations.fetch_add(1);
    if (props_.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        const VkResult r = vkMapMemory(dev_, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
        if (r != VK_SUCCESS) {
            vkFreeMemory(dev_, b->memory, nullptr);
            fail_vk(r, label.c_str());
        }
    }
    blocks_.push_back(std::move(b));
    return blocks_.back().get();
}

void MemoryArena::release_block(Block *b) {
    if (b->mapped) vkUnmapMemory(dev_, b->memory);
    vkFreeMemory(dev_, b->memory, nullptr);
    blocks_.erase(std::find_if(blocks_.begin(), blocks_.end(),
                               [b](const std::unique_ptr<Block> &p) { return p.get() == b; }));
}

MemoryArena::Allocation MemoryArena::allocate(const VkMemoryRequirements &req, uint32_t type,
                                              const char *what) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t block_bytes = std::min(kBlockBytes, max_allocation_size_);
    Block *block = nullptr;
    uint64_t offset = RangeAllocator::kNone;
    if (req.size >= std::min(kDedicatedBytes, block_bytes)) {
        if (req.size > max_allocation_size_)
            fail(GPTQ_ERR_DEVICE_OUT_OF_MEMORY,
                 "Vulkan: %s needs %llu bytes, more than this device's allocation limit (%llu)",
                 what, (unsigned long long)req.size, (unsigned long long)max_allocation_size_);
        block = new_block(type, req.size, true, what);
        offset = block->ranges.allocate(req.size, 1);
    } else {
        for (auto &b : blocks_) {
            if (b->dedicated || b->type != type) continue;
            offset = b->ranges.allocate(req.size, req.alignment);
            if (offset != RangeAllocator::kNone) {
                block = b.get();
                break;
            }
        }
        if (!block) {
            block = new_block(type, block_bytes, false, what);
            offset = block->ranges.allocate(req.size, req.alignment);
        }
    }
    Allocation a;
    a.block = block;
    a.memory = block->memory;
    a.offset = offset;
    a.size = req.size;
    a.mapped = block->mapped ? static_cast<uint8_t *>(block->mapped) + offset : nullptr;
    return a;
}

void MemoryArena::free(const Allocation &a) {
    if (!a.block) return;
    std::lock_guard<std::mutex> lock(mutex_);
    Block *b = a.block;
    b->ranges.free(a.offset, a.size);
    if (!b->ranges.empty()) return;
    const bool last_of_type =
        !b->dedicated && std::count_if(blocks_.begin(), blocks_.end(), [b](const auto &p) {
            return !p->dedicated && p->type == b->type;
        }) == 1;
    if (!last_of_type) release_block(b);
}

} // namespace gptq::vk
