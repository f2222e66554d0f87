#include "backends/vulkan/vk_range_allocator.h"

#include "core/error.h"

#include <iterator>

namespace gptq::vk {

RangeAllocator::RangeAllocator(uint64_t size) : size_(size) {
    if (size > 0) free_.emplace(0, size);
}

uint64_t RangeAllocator::allocate(uint64_t size, uint64_t alignment) {
    if (size == 0) size = 1;
    if (alignment == 0) alignment = 1;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        const uint64_t start = it->first, len = it->second;
        const uint64_t at = (start + alignment - 1) / alignment * alignment;
        if (at < start || at - start > len || len - (at - start) < size) continue;
        const uint64_t end = start + len;
        free_.erase(it);
        if (at > start) free_.emplace(start, at - start);  // padding before stays free
        if (at + size < end) free_.emplace(at + size, end - (at + size));
        used_ += size;
        return at;
    }
    return kNone;
}

void RangeAllocator::free(uint64_t offset, uint64_t size) {
    if (size == 0) size = 1;
    if (offset + size > size_ || size > used_)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: freeing a range that was never allocated");
    used_ -= size;
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && next->first < offset + size)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: freeing a range that is already free");
    uint64_t start = offset, len = size;
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second > offset)
            fail(GPTQ_ERR_INTERNAL, "Vulkan: freeing a range that is already free");
        if (prev->first + prev->second == offset) {  // merge with the range before
            start = prev->first;
            len += prev->second;
            free_.erase(prev);
        }
    }
    if (next != free_.end() && next->first == offset + size) {  // and the one after
        len += next->second;
        free_.erase(next);
    }
    free_.emplace(start, len);
}

} // namespace gptq::vk
