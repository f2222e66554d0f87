#include "backends/vulkan/vk_buffer.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace gptq::vk {

namespace {
std::atomic<uint64_t> g_buffers{0};
constexpr VkMemoryPropertyFlags kMappedFlags =
    VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
    VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
} // namespace

bool Buffer::mapped_available(const Device &dev) {
    // GPTQ_VULKAN_NO_MAPPED=1: as on a device without such memory (tests of the other path).
    static const bool refused = [] {
        const char *e = std::getenv("GPTQ_VULKAN_NO_MAPPED");
        return e && *e && std::strcmp(e, "0") != 0;
    }();
    return !refused && dev.find_memory_type(~0u, kMappedFlags) >= 0;
}

uint64_t buffers_created() { return g_buffers.load(); }

Buffer::Buffer(const Device &dev, size_t bytes, Kind kind, const char *what) : dev_(&dev) {
    const size_t size = bytes < 16 ? 16 : (bytes + 3) / 4 * 4;
    if (kind == DeviceLocal && size > dev.max_storage_range() && !dev.has_buffer_address())
        fail(GPTQ_ERR_DEVICE_OUT_OF_MEMORY,
             "Vulkan: %s needs %zu bytes, more than this device's storage-buffer limit (%llu), "
             "and the device has no buffer device addresses (VK_KHR_buffer_device_address) "
             "to reach a larger buffer",
             what, size, (unsigned long long)dev.max_storage_range());
    if (size > dev.max_buffer_size())
        fail(GPTQ_ERR_DEVICE_OUT_OF_MEMORY,
             "Vulkan: %s needs %zu bytes, more than this device's buffer size limit (%llu)",
             what, size, (unsigned long long)dev.max_buffer_size());
    const bool storage = kind != Staging;
    if (kind == Mapped && size > dev.max_storage_range())
        fail(GPTQ_ERR_INTERNAL, "Vulkan: %s (%zu bytes) exceeds the storage-buffer range", what,
             size);
    const bool addressed = kind == DeviceLocal && dev.has_buffer_address();
    const std::string label = std::string("allocating ") + what;
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size;
    bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
               (storage ? VK_BUFFER_USAGE_STORAGE_BUFFER_BIT : 0) |
               (addressed ? VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT_KHR : 0);
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    check(vkCreateBuffer(dev.handle(), &bi, nullptr, &buf_), label.c_str());
    size_ = size;
    g_buffers.fetch_add(1);
    try {
        VkMemoryRequirements req;
        vkGetBufferMemoryRequirements(dev.handle(), buf_, &req);
        int type = -1;
        if (kind == DeviceLocal) {
            type = dev.find_memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
            if (type < 0) type = dev.find_memory_type(req.memoryTypeBits, 0);
        } else if (kind == Mapped) {
            type = dev.find_memory_type(req.memoryTypeBits, kMappedFlags);
        } else {
            const VkMemoryPropertyFlags hv =
                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
            type = dev.find_memory_type(req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
            if (type < 0) type = dev.find_memory_type(req.memoryTypeBits, hv);
        }
        if (type < 0) fail(GPTQ_ERR_DEVICE, "Vulkan: no suitable memory type for %s", what);
        mem_ = dev.arena().allocate(req, uint32_t(type), what);
        check(vkBindBufferMemory(dev.handle(), buf_, mem_.memory, mem_.offset), label.c_str());
        if (kind != DeviceLocal) mapped_ = mem_.mapped;
        if (addressed) address_ = dev.buffer_address(buf_);
    } catch (...) {
        release();
        throw;
    }
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer &&o) noexcept { *this = std::move(o); }

Buffer &Buffer::operator=(Buffer &&o) noexcept {
    if (this != &o) {
        release();
        dev_ = o.dev_;
        buf_ = std::exchange(o.buf_, VK_NULL_HANDLE);
        mem_ = std::exchange(o.mem_, MemoryArena::Allocation{});
        size_ = std::exchange(o.size_, 0);
        mapped_ = std::exchange(o.mapped_, nullptr);
        address_ = std::exchange(o.address_, 0);
    }
    return *this;
}

void Buffer::release() {
    if (!dev_) return;
    if (buf_) vkDestroyBuffer(dev_->handle(), buf_, nullptr);
    dev_->arena().free(mem_);
    buf_ = VK_NULL_HANDLE;
    mem_ = MemoryArena::Allocation{};
    mapped_ = nullptr;
    address_ = 0;
    size_ = 0;
}

} // namespace gptq::vk
