#include "backends/vulkan/vk_commands.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <atomic>
#include <cstring>

namespace gptq::vk {

namespace {
constexpr uint32_t kMaxBindings = FramePool::kMaxBindings;
constexpr uint32_t kMaxMarks = FramePool::kQueries - 2;
std::atomic<uint64_t> g_addressed{0};
} // namespace

uint64_t addressed_dispatches() { return g_addressed.load(); }

namespace {
// Fails the operation when the validation layer reported anything since `since` (strict
// mode, tests).
void check_validation(uint64_t since) {
    if (validation_strict() && validation_message_count() != since)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: the validation layer reported %llu message(s) (see stderr)",
             (unsigned long long)(validation_message_count() - since));
}

void submit_and_wait(const Device &dev, VkCommandBuffer cmd, VkFence fence) {
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    check(vkQueueSubmit(dev.queue(), 1, &si, fence), "vkQueueSubmit");
    check(vkWaitForFences(dev.handle(), 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
}

// Adds the time between consecutive timestamps (query 0, then one per mark) to the
// context's stage times, and first to last to its device time.
void collect_timestamps(Context &ctx, VkQueryPool queries, const std::vector<std::string> &marks) {
    if (!queries || marks.empty()) return;
    std::vector<uint64_t> ts(marks.size() + 1);
    check(vkGetQueryPoolResults(ctx.device.handle(), queries, 0, uint32_t(ts.size()),
                                ts.size() * 8, ts.data(), 8,
                                VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
          "vkGetQueryPoolResults");
    const double ns = ctx.device.props().limits.timestampPeriod;
    ctx.device_ms += double(ts.back() - ts.front()) * ns * 1e-6;
    for (size_t i = 0; i < marks.size(); ++i) {
        const double ms = double(ts[i + 1] - ts[i]) * ns * 1e-6;
        bool found = false;
        for (StageTime &s : ctx.stage_times)
            if (s.stage == marks[i]) {
                s.ms += ms;
                found = true;
            }
        if (!found) ctx.stage_times.push_back({marks[i], ms});
    }
}
} // namespace

Replay::Replay(Context &ctx) : ctx_(ctx), frame_(ctx.frames.acquire()) {}

Replay::~Replay() {
    // A run whose wait failed: never reuse what the device may still be running.
    if (pending_) vkQueueWaitIdle(ctx_.device.queue());
    ctx_.frames.release(frame_);
}

void Replay::run() {
    if (!recorded_) fail(GPTQ_ERR_INTERNAL, "Vulkan: running a command buffer not recorded");
    const uint64_t messages = validation_message_count();
    check(vkResetFences(ctx_.device.handle(), 1, &frame_->fence), "vkResetFences");
    pending_ = true;
    submit_and_wait(ctx_.device, frame_->cmd, frame_->fence);
    pending_ = false;
    check_validation(messages);
    collect_timestamps(ctx_, queries_, marks_);
}

Recorder::Recorder(Context &ctx) : ctx_(ctx), messages_at_start_(validation_message_count()) {
    frame_ = ctx.frames.acquire();
    cmd_ = frame_->cmd;
    ring_ = ctx.staging.claim();
    try {
        begin(VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT);
    } catch (...) {
        release();
        throw;
    }
}

Recorder::Recorder(Context &ctx, Replay &replay)
    : ctx_(ctx), replay_(&replay), messages_at_start_(validation_message_count()) {
    if (replay.recorded_ || &replay.ctx_ != &ctx)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: a command buffer recorded twice or for another context");
    frame_ = replay.frame_;
    cmd_ = frame_->cmd;
    begin(0);  // nothing to release on failure: the frame stays the Replay's
}

void Recorder::begin(VkCommandBufferUsageFlags flags) {
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = flags;
    check(vkBeginCommandBuffer(cmd_, &bi), "vkBeginCommandBuffer");
    if (ctx_.profiling && ctx_.device.has_timestamps()) {
        queries_ = ctx_.frames.queries(*frame_);
        vkCmdResetQueryPool(cmd_, queries_, 0, kMaxMarks + 1);
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 0);
    }
}

Recorder::~Recorder() { release(); }

void Recorder::release() {
    if (!frame_) return;
    if (!replay_) {
        // Submitted but the wait failed: never reuse what the device may still be running.
        if (submitted_ && vkGetFenceStatus(ctx_.device.handle(), frame_->fence) != VK_SUCCESS)
            vkQueueWaitIdle(ctx_.device.queue());
        ctx_.frames.release(frame_);
    }
    if (ring_) ctx_.staging.release();
    staging_.clear();
    frame_ = nullptr;
    cmd_ = VK_NULL_HANDLE;
    queries_ = VK_NULL_HANDLE;
    ring_ = false;
}

void Recorder::dispatch_raw(Kernel k, const std::vector<uint32_t> &spec,
                            std::initializer_list<const Buffer *> bufs,
                            const void *pc,
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
    const uint64_t range = ctx_.device.max_storage_range();
    bool addressed = false;
    for (const Buffer *b : bufs) addressed = addressed || b->size() > range;
    if (addressed && !p.has_addressed(k))
        fail(GPTQ_ERR_UNSUPPORTED,
             "Vulkan: %s would read a buffer larger than this device's storage-buffer limit "
             "(%llu bytes)%s",
             p.shader(k), (unsigned long long)range,
             ctx_.device.has_buffer_address() ? "" : " and the device has no buffer addresses");
    const VkPipeline pipe = addressed ? p.addressed_pipeline(k, spec) : p.pipeline(k, spec);
    const VkDescriptorSet set = ctx_.frames.allocate_set(*frame_, p.set_layout(k));
    VkDescriptorBufferInfo infos[kMaxBindings];
    VkWriteDescriptorSet writes[kMaxBindings];
    VkDeviceAddress addrs[kMaxAddressedBindings] = {};
    uint32_t i = 0;
    for (const Buffer *b : bufs) {
        // The addressed build reads no descriptor, but each must still be valid: a window
        // within the range.
        infos[i] = {b->handle(), 0, b->size() > range ? VkDeviceSize(range) : VK_WHOLE_SIZE};
        if (addressed) addrs[i] = b->address();
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        ++i;
    }
    vkUpdateDescriptorSets(ctx_.device.handle(), i, writes, 0, nullptr);
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout(k), 0, 1, &set, 0,
                            nullptr);
    vkCmdPushConstants(cmd_, p.layout(k), VK_SHADER_STAGE_COMPUTE_BIT, 0, uint32_t(pc_size), pc);
    if (addressed) {
        g_addressed.fetch_add(1);
        vkCmdPushConstants(cmd_, p.layout(k), VK_SHADER_STAGE_COMPUTE_BIT, kAddressPushOffset,
                           uint32_t(i * sizeof(VkDeviceAddress)), addrs);
    }
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

Recorder::Staged Recorder::stage(size_t bytes, const char *what) {
    if (replay_)
        fail(GPTQ_ERR_INTERNAL, "Vulkan: %s in a command buffer recorded for replay", what);
    if (ring_) {
        const size_t at = ctx_.staging.take(bytes);
        if (at != StagingRing::kNone)
            return {&ctx_.staging.buffer(), at, ctx_.staging.host(at)};
    }
    staging_.emplace_back(ctx_.device, bytes, Buffer::Staging, what);
    return {&staging_.back(), 0, static_cast<uint8_t *>(staging_.back().mapped())};
}

void Recorder::upload(const Buffer &dst, const void *data, size_t bytes, size_t dst_off) {
    if (bytes == 0) return;
    const Staged s = stage(bytes, "an upload staging buffer");
    std::memcpy(s.host, data, bytes);
    copy(*s.buf, s.offset, dst, dst_off, bytes);
}

void *Recorder::upload_area(const Buffer &dst, size_t bytes, size_t dst_off) {
    if (bytes == 0) return nullptr;
    const Staged s = stage(bytes, "an upload staging buffer");
    copy(*s.buf, s.offset, dst, dst_off, bytes);
    return s.host;
}

int Recorder::download(const Buffer &src, size_t src_off, size_t bytes) {
    const Staged s = stage(bytes, "a download staging buffer");
    copy(src, src_off, *s.buf, s.offset, bytes);
    downloads_.push_back(s.host);
    return int(downloads_.size() - 1);
}

int Recorder::download_gather(const Buffer &src, const std::vector<size_t> &elem_offsets) {
    const Staged s = stage(elem_offsets.size() * 4, "a download staging buffer");
    std::vector<VkBufferCopy> regions(elem_offsets.size());
    for (size_t i = 0; i < elem_offsets.size(); ++i)
        regions[i] = {elem_offsets[i] * 4, s.offset + i * 4, 4};
    if (!regions.empty())
        vkCmdCopyBuffer(cmd_, src.handle(), s.buf->handle(), uint32_t(regions.size()),
                        regions.data());
    downloads_.push_back(s.host);
    return int(downloads_.size() - 1);
}

const void *Recorder::downloaded(int id) const { return downloads_.at(size_t(id)); }

void Recorder::mark(const char *label) {
    if (!queries_ || marks_.size() >= kMaxMarks) return;
    marks_.emplace_back(label);
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_,
                        uint32_t(marks_.size()));
}

void Recorder::end() {
    if (submitted_) fail(GPTQ_ERR_INTERNAL, "Vulkan: command buffer submitted twice");
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    submitted_ = true;
    check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
}

void Recorder::finish() {
    if (!replay_) fail(GPTQ_ERR_INTERNAL, "Vulkan: finish() of a recorder without a replay");
    end();
    check_validation(messages_at_start_);
    replay_->queries_ = queries_;
    replay_->marks_ = std::move(marks_);
    replay_->recorded_ = true;
}

void Recorder::submit() {
    if (replay_) {
        finish();
        replay_->run();
        return;
    }
    end();
    submit_and_wait(ctx_.device, cmd_, frame_->fence);
    check_validation(messages_at_start_);
    collect_timestamps(ctx_, queries_, marks_);
}

} // namespace gptq::vk
