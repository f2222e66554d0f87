// One command buffer per operation: record dispatches, barriers and transfers, then submit()
// once and wait. The command buffer, fence, descriptor sets and timestamp queries come from
// a frame of the context's FramePool and go back to it; uploads and downloads go through the
// context's staging ring (or, when it is full or in use, staging buffers the recorder owns).
// A Recorder may instead record into a Replay: a command buffer kept and submitted again
// and again (the matmul of a resident layer at one shape), saving the recording, descriptor
// updates and staging of every later call.
#pragma once

#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_context.h"

#include <initializer_list>
#include <string>
#include <vector>

namespace gptq::vk {

class Recorder;

// A command buffer recorded once (by a Recorder constructed on it) and then run any number
// of times, with its own frame (fence, descriptor sets, timestamp queries) for its lifetime.
// Whatever it reads or writes must stay alive and in place as long as it is run; its
// timestamps (recorded when the context profiled at recording time) are added to the
// context's stage times on every run.
class Replay {
public:
    explicit Replay(Context &ctx);
    ~Replay();
    Replay(const Replay &) = delete;
    Replay &operator=(const Replay &) = delete;

    // Submits the command buffer and waits for it. Needs a finished recording.
    void run();
    bool profiled() const { return queries_ != VK_NULL_HANDLE; }

private:
    friend class Recorder;
    Context &ctx_;
    Frame *frame_ = nullptr;
    VkQueryPool queries_ = VK_NULL_HANDLE;
    std::vector<std::string> marks_;
    bool recorded_ = false;
    bool pending_ = false;  // submitted, not yet waited for
};

class Recorder {
public:
    explicit Recorder(Context &ctx);
    // Records into `replay` (which must be empty) instead of a frame of its own: no upload
    // or download (there is no staging memory per run; transfer from and to buffers of the
    // caller's with copy()), and finish() instead of submit().
    Recorder(Context &ctx, Replay &replay);
    ~Recorder();
    Recorder(const Recorder &) = delete;
    Recorder &operator=(const Recorder &) = delete;

    template <class PC>
    void dispatch(Kernel k, std::initializer_list<const Buffer *> bufs, const PC &pc, uint32_t gx,
                  uint32_t gy = 1, uint32_t gz = 1) {
        dispatch_raw(k, ctx_.pipelines.spec(k), bufs, &pc, sizeof pc, gx, gy, gz);
    }
    // The same with a variant of the kernel (other specialization constants than the table's).
    template <class PC>
    void dispatch_variant(Kernel k, const std::vector<uint32_t> &spec,
                          std::initializer_list<const Buffer *> bufs, const PC &pc, uint32_t gx,
                          uint32_t gy = 1, uint32_t gz = 1) {
        dispatch_raw(k, spec, bufs, &pc, sizeof pc, gx, gy, gz);
    }
    // Makes every earlier shader/transfer write visible to every later read or write.
    void barrier();
    void copy(const Buffer &src, size_t src_off, const Buffer &dst, size_t dst_off, size_t bytes);
    void fill_zero(const Buffer &dst);
    // Copies data into staging memory now and records its transfer into dst.
    void upload(const Buffer &dst, const void *data, size_t bytes, size_t dst_off = 0);
    // Like upload(), but returns the staging memory for the caller to fill (before submit())
    // instead of copying from a host image: saves a copy for data that needs repacking.
    void *upload_area(const Buffer &dst, size_t bytes, size_t dst_off = 0);
    // Records a transfer of src into staging memory; read it with downloaded(id) after
    // submit().
    int download(const Buffer &src, size_t src_off, size_t bytes);
    // Like download(), for `count` 4-byte elements at src element offsets offs[i].
    int download_gather(const Buffer &src, const std::vector<size_t> &elem_offsets);
    const void *downloaded(int id) const;
    // Timestamp: the time since the previous mark is added to ctx.stage_times[label].
    void mark(const char *label);
    // Ends, submits and waits. The recorder cannot record afterwards. With a Replay: ends
    // the recording and runs it once.
    void submit();
    // Ends the recording into the Replay, without running it.
    void finish();

private:
    Context &ctx_;
    Replay *replay_ = nullptr;
    Frame *frame_ = nullptr;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkQueryPool queries_ = VK_NULL_HANDLE;
    bool ring_ = false;              // this recorder holds the context's staging ring
    std::vector<Buffer> staging_;    // overflow staging buffers
    std::vector<const void *> downloads_;  // host address of each download id
    std::vector<std::string> marks_;
    bool submitted_ = false;
    uint64_t messages_at_start_ = 0;  // validation messages before this operation

    // Binds the plain build of k, or, when a buffer exceeds the device's storage range, its
    // addressed build with the buffers' addresses pushed (shaders/addressed.glsl).
    void dispatch_raw(Kernel k, const std::vector<uint32_t> &spec,
                      std::initializer_list<const Buffer *> bufs,
                      const void *pc,
                      size_t pc_size, uint32_t gx, uint32_t gy, uint32_t gz);
    // Staging memory for `bytes`: (buffer, offset, host address).
    struct Staged {
        const Buffer *buf;
        size_t offset;
        uint8_t *host;
    };
    Staged stage(size_t bytes, const char *what);
    void begin(VkCommandBufferUsageFlags flags);
    void end();
    void release();
};

// Dispatches of addressed builds recorded in this process (white-box tests: the split path
// really ran).
uint64_t addressed_dispatches();

// Workgroups to cover `items` with `per_group` items each.
inline uint32_t groups(uint64_t items, uint64_t per_group) {
    return uint32_t((items + per_group - 1) / per_group);
}

} // namespace gptq::vk
