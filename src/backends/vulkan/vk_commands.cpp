#include "backends/vulkan/vk_commands.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <cstring>

namespace gptq::vk {

namespace {
constexpr uint32_t kSetsPerPool = 64;
constexpr uint32_t kMaxBindings = 8;
constexpr uint32_t kMaxMarks = 254;
} // namespace

Recorder::Recorder(Context &ctx) : ctx_(ctx), messages_at_start_(validation_message_count()) {
    const Device &d = ctx.device;
    try {
        VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        ai.commandPool = d.command_pool();
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        check(vkAllocateCommandBuffers(d.handle(), &ai, &cmd_), "vkAllocateCommandBuffers");
        VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        check(vkCreateFence(d.handle(), &fi, nullptr, &fence_), "vkCreateFence");
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        check(vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
        if (ctx.profiling && d.has_timestamps()) {
            VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
            qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
            qi.queryCount = kMaxMarks + 1;
            check(vkCreateQueryPool(d.handle(), &qi, nullptr, &queries_), "vkCreateQueryPool");
            vkCmdResetQueryPool(cmd_, queries_, 0, kMaxMarks + 1);
            vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 0);
        }
    } catch (...) {
        release();
        throw;
    }
}

Recorder::~Recorder() { release(); }

void Recorder::release() {
    VkDevice dev = ctx_.device.handle();
    if (cmd_ && !submitted_) vkEndCommandBuffer(cmd_);  // abandoned mid-recording
    // Submitted but the wait failed: never free what the device may still be running.
    if (submitted_ && fence_ && vkGetFenceStatus(dev, fence_) != VK_SUCCESS)
        vkQueueWaitIdle(ctx_.device.queue());
    if (cmd_) vkFreeCommandBuffers(dev, ctx_.device.command_pool(), 1, &cmd_);
    if (fence_) vkDestroyFence(dev, fence_, nullptr);
    if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
    for (VkDescriptorPool p : pools_) vkDestroyDescriptorPool(dev, p, nullptr);
    pools_.clear();
    staging_.clear();
    cmd_ = VK_NULL_HANDLE;
    fence_ = VK_NULL_HANDLE;
    queries_ = VK_NULL_HANDLE;
}

VkDescriptorSet Recorder::allocate_set(Kernel k) {
    VkDevice dev = ctx_.device.handle();
    if (sets_left_ == 0) {
        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
        VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        pi.maxSets = kSetsPerPool;
        pi.poolSizeCount = 1;
        pi.pPoolSizes = &size;
        VkDescriptorPool pool = VK_NULL_HANDLE;
        check(vkCreateDescriptorPool(dev, &pi, nullptr, &pool), "vkCreateDescriptorPool");
        pools_.push_back(pool);
        sets_left_ = kSetsPerPool;
    }
    const VkDescriptorSetLayout layout = ctx_.pipelines.set_layout(k);
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pools_.back();
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    check(vkAllocateDescriptorSets(dev, &ai, &set), "vkAllocateDescriptorSets");
    --sets_left_;
    return set;
}

void Recorder::dispatch_raw(Kernel k, std::initializer_list<const Buffer *> bufs, const void *pc,
                            size_t pc_size, uint32_t gx, uint32_t gy, uint32_t gz) {
    const Pipelines &p = ctx_.pipelines;
    if (bufs.size() != p.n_bindings(k) || pc_size > 128)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: kernel %d dispatched with %zu buffers (expects %u)",
             int(k), bufs.size(), p.n_bindings(k));
    if (gx == 0 || gy == 0 || gz == 0) return;
    const auto &lim = ctx_.device.props().limits;
    if (gx > lim.maxComputeWorkGroupCount[0] || gy > lim.maxComputeWorkGroupCount[1] ||
        gz > lim.maxComputeWorkGroupCount[2])
        fail(GPTQ_ERR_UNSUPPORTED,
             "Vulkan: problem too large for one dispatch (%u x %u x %u workgroups)", gx, gy, gz);
    const VkDescriptorSet set = allocate_set(k);
    VkDescriptorBufferInfo infos[kMaxBindings];
    VkWriteDescriptorSet writes[kMaxBindings];
    uint32_t i = 0;
    for (const Buffer *b : bufs) {
        infos[i] = {b->handle(), 0, VK_WHOLE_SIZE};
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        ++i;
    }
    vkUpdateDescriptorSets(ctx_.device.handle(), i, writes, 0, nullptr);
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline(k));
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout(k), 0, 1, &set, 0,
                            nullptr);
    vkCmdPushConstants(cmd_, p.layout(k), VK_SHADER_STAGE_COMPUTE_BIT, 0, uint32_t(pc_size), pc);
    vkCmdDispatch(cmd_, gx, gy, gz);
}

void Recorder::barrier() {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    const VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Recorder::copy(const Buffer &src, size_t src_off, const Buffer &dst, size_t dst_off,
                    size_t bytes) {
    if (bytes == 0) return;
    VkBufferCopy region{src_off, dst_off, bytes};
    vkCmdCopyBuffer(cmd_, src.handle(), dst.handle(), 1, &region);
}

void Recorder::fill_zero(const Buffer &dst) {
    vkCmdFillBuffer(cmd_, dst.handle(), 0, VK_WHOLE_SIZE, 0);
}

void Recorder::upload(const Buffer &dst, const void *data, size_t bytes, size_t dst_off) {
    if (bytes == 0) return;
    staging_.emplace_back(ctx_.device, bytes, Buffer::Staging, "an upload staging buffer");
    std::memcpy(staging_.back().mapped(), data, bytes);
    copy(staging_.back(), 0, dst, dst_off, bytes);
}

int Recorder::download(const Buffer &src, size_t src_off, size_t bytes) {
    staging_.emplace_back(ctx_.device, bytes, Buffer::Staging, "a download staging buffer");
    copy(src, src_off, staging_.back(), 0, bytes);
    return int(staging_.size() - 1);
}

int Recorder::download_gather(const Buffer &src, const std::vector<size_t> &elem_offsets) {
    staging_.emplace_back(ctx_.device, elem_offsets.size() * 4, Buffer::Staging,
                          "a download staging buffer");
    std::vector<VkBufferCopy> regions(elem_offsets.size());
    for (size_t i = 0; i < elem_offsets.size(); ++i)
        regions[i] = {elem_offsets[i] * 4, i * 4, 4};
    if (!regions.empty())
        vkCmdCopyBuffer(cmd_, src.handle(), staging_.back().handle(), uint32_t(regions.size()),
                        regions.data());
    return int(staging_.size() - 1);
}

const void *Recorder::downloaded(int id) const { return staging_.at(size_t(id)).mapped(); }

void Recorder::mark(const char *label) {
    if (!queries_ || marks_.size() >= kMaxMarks) return;
    marks_.emplace_back(label);
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_,
                        uint32_t(marks_.size()));
}

void Recorder::submit() {
    if (submitted_) fail(GPTQ_ERR_INTERNAL, "Vulkan: command buffer submitted twice");
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    submitted_ = true;
    check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    check(vkQueueSubmit(ctx_.device.queue(), 1, &si, fence_), "vkQueueSubmit");
    check(vkWaitForFences(ctx_.device.handle(), 1, &fence_, VK_TRUE, UINT64_MAX),
          "vkWaitForFences");
    if (validation_strict() && validation_message_count() != messages_at_start_)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: the validation layer reported %llu message(s) (see stderr)",
             (unsigned long long)(validation_message_count() - messages_at_start_));
    if (!queries_ || marks_.empty()) return;
    std::vector<uint64_t> ts(marks_.size() + 1);
    check(vkGetQueryPoolResults(ctx_.device.handle(), queries_, 0, uint32_t(ts.size()),
                                ts.size() * 8, ts.data(), 8,
                                VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
          "vkGetQueryPoolResults");
    const double ns = ctx_.device.props().limits.timestampPeriod;
    for (size_t i = 0; i < marks_.size(); ++i) {
        const double ms = double(ts[i + 1] - ts[i]) * ns * 1e-6;
        bool found = false;
        for (StageTime &s : ctx_.stage_times)
            if (s.stage == marks_[i]) {
                s.ms += ms;
                found = true;
            }
        if (!found) ctx_.stage_times.push_back({marks_[i], ms});
    }
}

} // namespace gptq::vk
