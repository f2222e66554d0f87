#include "backends/vulkan/vk_frames.h"

#include "backends/vulkan/vk_check.h"

#include <algorithm>

namespace gptq::vk {

FramePool::~FramePool() {
    for (auto &f : all_) destroy(*f);
}

void FramePool::destroy(Frame &f) {
    VkDevice dev = dev_.handle();
    if (f.cmd) vkFreeCommandBuffers(dev, dev_.command_pool(), 1, &f.cmd);
    if (f.fence) vkDestroyFence(dev, f.fence, nullptr);
    if (f.queries) vkDestroyQueryPool(dev, f.queries, nullptr);
    for (VkDescriptorPool p : f.pools) vkDestroyDescriptorPool(dev, p, nullptr);
    f = Frame{};
}

Frame *FramePool::acquire() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!free_.empty()) {
            Frame *f = free_.back();
            free_.pop_back();
            return f;
        }
    }
    auto f = std::make_unique<Frame>();
    try {
        VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        ai.commandPool = dev_.command_pool();
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        check(vkAllocateCommandBuffers(dev_.handle(), &ai, &f->cmd), "vkAllocateCommandBuffers");
        VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        check(vkCreateFence(dev_.handle(), &fi, nullptr, &f->fence), "vkCreateFence");
    } catch (...) {
        destroy(*f);
        throw;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    all_.push_back(std::move(f));
    return all_.back().get();
}

void FramePool::release(Frame *f) {
    VkDevice dev = dev_.handle();
    vkResetCommandBuffer(f->cmd, 0);
    vkResetFences(dev, 1, &f->fence);
    for (VkDescriptorPool p : f->pools) vkResetDescriptorPool(dev, p, 0);
    f->pool = 0;
    f->sets_left = f->pools.empty() ? 0 : kSetsPerPool;
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(f);
}

VkDescriptorSet FramePool::allocate_set(Frame &f, VkDescriptorSetLayout layout) {
    VkDevice dev = dev_.handle();
    if (f.sets_left == 0) {
        if (!f.pools.empty() && f.pool + 1 < f.pools.size()) {
            ++f.pool;  // the next pool kept from an earlier operation
        } else {
            VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      kSetsPerPool * kMaxBindings};
            VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
            pi.maxSets = kSetsPerPool;
            pi.poolSizeCount = 1;
            pi.pPoolSizes = &size;
            VkDescriptorPool pool = VK_NULL_HANDLE;
            check(vkCreateDescriptorPool(dev, &pi, nullptr, &pool), "vkCreateDescriptorPool");
            f.pools.push_back(pool);
            f.pool = f.pools.size() - 1;
        }
        f.sets_left = kSetsPerPool;
    }
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = f.pools[f.pool];
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    check(vkAllocateDescriptorSets(dev, &ai, &set), "vkAllocateDescriptorSets");
    --f.sets_left;
    return set;
}

VkQueryPool FramePool::queries(Frame &f) {
    if (!f.queries) {
        VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = kQueries;
        check(vkCreateQueryPool(dev_.handle(), &qi, nullptr, &f.queries), "vkCreateQueryPool");
    }
    return f.queries;
}

bool StagingRing::claim() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (claimed_) return false;
    claimed_ = true;
    used_ = 0;
    wanted_ = 0;
    return true;
}

size_t StagingRing::take(size_t bytes) {
    const size_t aligned = (bytes + 15) / 16 * 16;
    wanted_ += aligned;
    if (!buf_.handle()) {  // first use: a buffer of the initial size (or this request's)
        size_t size = kInitialBytes;
        while (size < aligned && size < kMaxBytes) size *= 2;
        buf_ = Buffer(dev_, size, Buffer::Staging, "the staging ring");
    }
    if (used_ + aligned > buf_.size()) return kNone;
    const size_t at = used_;
    used_ += aligned;
    return at;
}

void StagingRing::release() {
    std::lock_guard<std::mutex> lock(mutex_);
    claimed_ = false;
    // Grow for the next operation if this one did not fit (its buffers are all done).
    if (wanted_ > buf_.size() && buf_.size() < kMaxBytes) {
        size_t size = std::max(buf_.size(), kInitialBytes);
        while (size < wanted_ && size < kMaxBytes) size *= 2;
        buf_ = Buffer();
        try {
            buf_ = Buffer(dev_, size, Buffer::Staging, "the staging ring");
        } catch (const std::exception &) {
            // No memory for a larger ring: the next use allocates the initial size again.
        }
    }
}

} // namespace gptq::vk
