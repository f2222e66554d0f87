// Shared host-side helpers of the CUDA backend: error translation and an owning device
// buffer. Every CUDA runtime call goes through check() so that a failure becomes a
// gptq::Error (GPTQ_ERR_DEVICE, or GPTQ_ERR_DEVICE_OUT_OF_MEMORY) naming the operation.
#pragma once

#include "core/error.h"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace gptq::cuda {

inline void check(cudaError_t err, const char *what) {
    if (err == cudaSuccess) return;
    (void)cudaGetLastError();  // clear a sticky-free error so the next call starts clean
    fail(err == cudaErrorMemoryAllocation ? GPTQ_ERR_DEVICE_OUT_OF_MEMORY : GPTQ_ERR_DEVICE,
         "CUDA backend: %s failed: %s", what, cudaGetErrorString(err));
}

// Checks that the kernels launched so far were accepted (configuration errors surface here,
// execution errors at the next synchronisation).
inline void check_launch(const char *what) { check(cudaGetLastError(), what); }

// Owning, move-only device allocation of `count` elements of T. Contents are uninitialised.
template <class T>
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t count) : count_(count) {
        if (count == 0) return;
        void *p = nullptr;
        check(cudaMalloc(&p, count * sizeof(T)), "cudaMalloc");
        ptr_ = static_cast<T *>(p);
    }
    ~DeviceBuffer() {
        if (ptr_) cudaFree(ptr_);  // an error here cannot be reported; nothing to leak
    }
    DeviceBuffer(DeviceBuffer &&o) noexcept : ptr_(o.ptr_), count_(o.count_) {
        o.ptr_ = nullptr;
        o.count_ = 0;
    }
    DeviceBuffer &operator=(DeviceBuffer &&o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(count_, o.count_);
        return *this;
    }
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;

    T *get() const { return ptr_; }
    size_t size() const { return count_; }

    void upload(const T *src, size_t count) {
        check(cudaMemcpy(ptr_, src, count * sizeof(T), cudaMemcpyHostToDevice), "upload");
    }
    void download(T *dst, size_t count) const {
        check(cudaMemcpy(dst, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost), "download");
    }
    void zero() {
        if (count_) check(cudaMemset(ptr_, 0, count_ * sizeof(T)), "cudaMemset");
    }

private:
    T *ptr_ = nullptr;
    size_t count_ = 0;
};

// Element size of a public dtype (F32 4, F16/BF16 2).
inline size_t dtype_size(gptq_dtype dtype) { return dtype == GPTQ_DTYPE_F32 ? 4 : 2; }

} // namespace gptq::cuda
