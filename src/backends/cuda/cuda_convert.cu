// Element conversion used before the Hessian product and the matmul: activations arrive
// as F16 or BF16 bit patterns and all arithmetic is fp32 (docs/gptq-reference.md §1).
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"

#include <cuda_fp16.h>

namespace gptq::cuda {
namespace {

__global__ void half_to_f32_kernel(const uint16_t *src, int is_bf16, int64_t count,
                                   float *dst) {
    const int64_t stride = int64_t(gridDim.x) * blockDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
        const uint16_t h = src[i];
        dst[i] = is_bf16 ? __uint_as_float(uint32_t(h) << 16)
                         : __half2float(__ushort_as_half(h));
    }
}

} // namespace

void half_to_f32(const uint16_t *src, gptq_dtype dtype, int64_t count, float *dst) {
    if (count <= 0) return;
    const int64_t blocks = (count + 255) / 256;
    half_to_f32_kernel<<<unsigned(blocks < 4096 ? blocks : 4096), 256>>>(
        src, dtype == GPTQ_DTYPE_BF16, count, dst);
    check_launch("half-to-float kernel");
}

} // namespace gptq::cuda
