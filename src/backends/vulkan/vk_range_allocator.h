// First-fit allocator of byte ranges inside one block, with coalescing on free. Pure
// bookkeeping (no Vulkan), so it is unit-tested on its own; MemoryArena sub-allocates
// device memory blocks with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

namespace gptq::vk {

class RangeAllocator {
public:
    static constexpr uint64_t kNone = ~uint64_t(0);

    explicit RangeAllocator(uint64_t size);
    // Offset of `size` bytes aligned to `alignment` (a power of two), or kNone if no free
    // range fits.
    uint64_t allocate(uint64_t size, uint64_t alignment);
    // Returns a range allocate() gave out (same offset and size).
    void free(uint64_t offset, uint64_t size);

    uint64_t capacity() const { return size_; }
    uint64_t used() const { return used_; }
    bool empty() const { return used_ == 0; }
    // Number of separate free ranges (1 when nothing is allocated: coalescing works).
    size_t free_ranges() const { return free_.size(); }

private:
    uint64_t size_;
    uint64_t used_ = 0;
    std::map<uint64_t, uint64_t> free_;  // offset -> length, never adjacent to each other
};

} // namespace gptq::vk
