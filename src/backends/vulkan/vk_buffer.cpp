#include "backends/vulkan/vk_buffer.h"

#include "backends/vulkan/vk_check.h"
#include "core/error.h"

#include <string>
#include <utility>

namespace gptq::vk {

Buffer::Buffer(const Device &dev, size_t bytes, Kind kind, const char *what) : dev_(&dev) {
    const size_t size = bytes < 16 ? 16 : (bytes + 3) / 4 * 4;
    const auto &limits = dev.props().limits;
    if (kind == DeviceLocal && size > limits.maxStorageBufferRange)
        fail(GPTQ_ERR_DEVICE_OUT_OF_MEMORY,
             "Vulkan: %s needs %zu bytes, more than this device's storage-buffer limit (%u)",
             what, size, limits.maxStorageBufferRange);
    const std::string label = std::string("allocating ") + what;
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size;
    bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
               (kind == DeviceLocal ? VK_BUFFER_USAGE_STORAGE_BUFFER_BIT : 0);
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    check(vkCreateBuffer(dev.handle(), &bi, nullptr, &buf_), label.c_str());
    size_ = size;
    try {
        VkMemoryRequirements req;
        vkGetBufferMemoryRequirements(dev.handle(), buf_, &req);
        int type = -1;
        if (kind == DeviceLocal) {
            type = dev.find_memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
            if (type < 0) type = dev.find_memory_type(req.memoryTypeBits, 0);
        } else {
            const VkMemoryPropertyFlags hv =
                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
            type = dev.find_memory_type(req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
            if (type < 0) type = dev.find_memory_type(req.memoryTypeBits, hv);
        }
        if (type < 0) fail(GPTQ_ERR_DEVICE, "Vulkan: no suitable memory type for %s", what);
        VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
        ai.allocationSize = req.size;
        ai.memoryTypeIndex = uint32_t(type);
        check(vkAllocateMemory(dev.handle(), &ai, nullptr, &mem_), label.c_str());
        check(vkBindBufferMemory(dev.handle(), buf_, mem_, 0), label.c_str());
        if (kind == Staging)
            check(vkMapMemory(dev.handle(), mem_, 0, VK_WHOLE_SIZE, 0, &mapped_), label.c_str());
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
        mem_ = std::exchange(o.mem_, VK_NULL_HANDLE);
        size_ = std::exchange(o.size_, 0);
        mapped_ = std::exchange(o.mapped_, nullptr);
    }
    return *this;
}

void Buffer::release() {
    if (!dev_) return;
    if (mapped_) vkUnmapMemory(dev_->handle(), mem_);
    if (buf_) vkDestroyBuffer(dev_->handle(), buf_, nullptr);
    if (mem_) vkFreeMemory(dev_->handle(), mem_, nullptr);
    buf_ = VK_NULL_HANDLE;
    mem_ = VK_NULL_HANDLE;
    mapped_ = nullptr;
    size_ = 0;
}

} // namespace gptq::vk
