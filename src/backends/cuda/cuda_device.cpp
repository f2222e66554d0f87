#include "backends/cuda/cuda_device.h"

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.h"
#include "core/backend.h"

#include <cstdio>

namespace gptq {
namespace cuda {

int device_count(std::string *why) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();  // do not leave the error for the next, unrelated call
        if (why) *why = cudaGetErrorString(err);
        return 0;
    }
    if (count == 0 && why) *why = "0 devices";
    return count;
}

std::string device_description(int device) {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %.0f GiB)", prop.name, prop.major, prop.minor,
                  double(prop.totalGlobalMem) / double(1ull << 30));
    return buf;
}

} // namespace cuda

bool cuda_backend_available() { return cuda::device_count(nullptr) > 0; }

} // namespace gptq
