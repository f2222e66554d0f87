// Storage buffers: device-local ones for kernels, host-visible staging ones for transfers,
// and, on devices whose device-local memory the host can map cached (lavapipe, most
// integrated GPUs), mapped storage buffers that kernels and host both access directly.
// Each is its own VkBuffer bound to a range of the device's MemoryArena (no driver
// allocation of its own).
#pragma once

#include "backends/vulkan/vk_device.h"

#include <cstddef>
#include <cstdint>

namespace gptq::vk {

class Buffer {
public:
    enum Kind { DeviceLocal, Staging, Mapped };

    // Whether the device has memory for Mapped buffers (device-local, host-visible, coherent
    // and cached: host reads of kernel output are then as fast as of host memory). The
    // environment variable GPTQ_VULKAN_NO_MAPPED=1 says no (tests).
    static bool mapped_available(const Device &dev);

    Buffer() = default;
    // Throws Error(GPTQ_ERR_DEVICE_OUT_OF_MEMORY) when the device cannot hold it; `what`
    // names the buffer in messages. A size of 0 allocates a minimal buffer. A DeviceLocal
    // buffer larger than the storage-buffer range needs device addresses (only the
    // quantizer's kernels can read it, see shaders/addressed.glsl).
    Buffer(const Device &dev, size_t bytes, Kind kind, const char *what);
    ~Buffer();
    Buffer(Buffer &&o) noexcept;
    Buffer &operator=(Buffer &&o) noexcept;
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;

    VkBuffer handle() const { return buf_; }
    size_t size() const { return size_; }
    // Host pointer of a Staging or Mapped buffer (persistently mapped, coherent).
    void *mapped() const { return mapped_; }
    // Device address of a DeviceLocal buffer (0 without Device::has_buffer_address()).
    VkDeviceAddress address() const { return address_; }

private:
    const Device *dev_ = nullptr;
    VkBuffer buf_ = VK_NULL_HANDLE;
    MemoryArena::Allocation mem_;
    size_t size_ = 0;
    void *mapped_ = nullptr;
    VkDeviceAddress address_ = 0;

    void release();
};

// Buffers created in this process (white-box tests: steady-state operations create none).
uint64_t buffers_created();

} // namespace gptq::vk
