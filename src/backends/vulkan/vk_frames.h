// What one device operation needs besides its buffers, kept per context and reused:
// frames (a command buffer, its fence, descriptor pools and a timestamp query pool), so an
// operation allocates no Vulkan objects once the context is warm, and the staging ring,
// the host-visible buffer every upload and download of an operation goes through.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_device.h"

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace gptq::vk {

struct Frame {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;  // one per in-flight submit
    VkQueryPool queries = VK_NULL_HANDLE;  // created on the first profiled use
    std::vector<VkDescriptorPool> pools;
    size_t pool = 0;         // pool sets are taken from
    uint32_t sets_left = 0;  // in pools[pool]
};

class FramePool {
public:
    static constexpr uint32_t kSetsPerPool = 64;
    static constexpr uint32_t kMaxBindings = 8;
    static constexpr uint32_t kQueries = 256;

    explicit FramePool(const Device &dev) : dev_(dev) {}
    ~FramePool();
    FramePool(const FramePool &) = delete;
    FramePool &operator=(const FramePool &) = delete;

    // A frame ready to record (command buffer reset, fence unsignalled, no sets in use).
    Frame *acquire();
    // Gives back a frame whose submit (if any) has completed.
    void release(Frame *f);
    // A descriptor set of `layout` from f's pools (adding a pool when they are full).
    VkDescriptorSet allocate_set(Frame &f, VkDescriptorSetLayout layout);
    VkQueryPool queries(Frame &f);
    // Frames created so far (white-box tests: stays constant across repeated operations).
    size_t frames_created() const { return all_.size(); }

private:
    const Device &dev_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Frame>> all_;
    std::vector<Frame *> free_;
    void destroy(Frame &f);
};

// Host-visible transfer buffer used by one operation at a time: its uploads and downloads
// take consecutive ranges, all given back when the operation ends. An operation that needs
// more than the ring holds takes what fits and falls back to its own staging buffers for the
// rest; the ring then grows (up to kMaxBytes) before the next operation, so a repeated
// operation of one shape soon makes no staging allocation at all.
class StagingRing {
public:
    static constexpr size_t kInitialBytes = size_t(1) << 20;
    static constexpr size_t kMaxBytes = size_t(64) << 20;
    static constexpr size_t kNone = ~size_t(0);

    explicit StagingRing(const Device &dev) : dev_(dev) {}
    // Claims the ring for an operation; false if another operation holds it.
    bool claim();
    // Offset of `bytes` bytes (16-byte aligned), or kNone when the ring is full.
    size_t take(size_t bytes);
    // Ends the claim.
    void release();
    const Buffer &buffer() const { return buf_; }
    uint8_t *host(size_t offset) const { return static_cast<uint8_t *>(buf_.mapped()) + offset; }

private:
    const Device &dev_;
    std::mutex mutex_;
    bool claimed_ = false;
    Buffer buf_;
    size_t used_ = 0;
    size_t wanted_ = 0;  // bytes the current operation asked for, fitting or not
};

} // namespace gptq::vk
