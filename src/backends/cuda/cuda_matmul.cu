// Dequantizing matmul y = x * dequant(W)^T straight from the checkpoint layout (docs/gptq-reference.md §5):
// each thread owns one output column n and dequantizes W[n, k] once per k for kRows rows of
// x held in shared memory, so the packed weights are read once per kRows rows (once in
// total for the M = 1 decode case). Accumulation is fp32.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"

namespace gptq::cuda {
namespace {

constexpr int kCols = 128;  // threads per block = output columns per block
constexpr int kRows = 8;    // rows of x per block
constexpr int kDepth = 32;  // k values staged in shared memory at a time

// Code (k, col) of qweight [packed k][n]; 3-bit codes straddle words (docs/gptq-reference.md §5).
__device__ uint32_t code_at(const int32_t *qw, int64_t n, int64_t k, int64_t col, int bits) {
    if (bits != 3) {
        const int per = 32 / bits;
        const uint32_t word = uint32_t(qw[(k / per) * n + col]);
        return (word >> (bits * int(k % per))) & ((1u << bits) - 1u);
    }
    const int64_t bit = (k / 32) * 96 + (k % 32) * 3;
    const int64_t w = bit / 32;
    const int off = int(bit % 32);
    uint64_t v = uint32_t(qw[w * n + col]);
    if (off > 29) v |= uint64_t(uint32_t(qw[(w + 1) * n + col])) << 32;
    return uint32_t(v >> off) & 7u;
}

__global__ void dequant_matmul_kernel(const float *x, int64_t m, int64_t k,
                                      const int32_t *qweight, const float *scales,
                                      const int32_t *zeros, const int32_t *g_idx, int64_t n,
                                      int bits, float *y, int64_t ldy) {
    __shared__ float xs[kRows][kDepth];
    const int64_t col = int64_t(blockIdx.x) * kCols + threadIdx.x;
    const int64_t m0 = int64_t(blockIdx.y) * kRows;
    float acc[kRows] = {};
    for (int64_t k0 = 0; k0 < k; k0 += kDepth) {
        for (int e = threadIdx.x; e < kRows * kDepth; e += kCols) {
            const int64_t mm = m0 + e / kDepth, kk = k0 + e % kDepth;
            xs[e / kDepth][e % kDepth] = (mm < m && kk < k) ? x[mm * k + kk] : 0.0f;
        }
        __syncthreads();
        if (col < n) {
            const int64_t depth = k - k0 < kDepth ? k - k0 : kDepth;
            for (int64_t kk = 0; kk < depth; ++kk) {
                const int64_t kg = k0 + kk;
                const int64_t g = g_idx[kg];
                const float w = scales[g * n + col] *
                                (float(code_at(qweight, n, kg, col, bits)) -
                                 float(zeros[g * n + col]));
                for (int r = 0; r < kRows; ++r) acc[r] += xs[r][kk] * w;
            }
        }
        __syncthreads();
    }
    if (col >= n) return;
    for (int r = 0; r < kRows; ++r)
        if (m0 + r < m) y[(m0 + r) * ldy + col] = acc[r];
}

} // namespace

void dequant_matmul(const float *x, int64_t m, int64_t k, const int32_t *qweight,
                    const float *scales, const int32_t *zeros, const int32_t *g_idx,
                    int64_t n, int bits, float *y, int64_t ldy) {
    const int64_t row_blocks = (m + kRows - 1) / kRows;
    // grid.y is limited to 65535 blocks: split very tall x into several launches.
    constexpr int64_t kMaxY = 65535;
    for (int64_t b0 = 0; b0 < row_blocks; b0 += kMaxY) {
        const int64_t nb = row_blocks - b0 < kMaxY ? row_blocks - b0 : kMaxY;
        const int64_t r0 = b0 * kRows;
        const dim3 grid(unsigned((n + kCols - 1) / kCols), unsigned(nb));
        dequant_matmul_kernel<<<grid, kCols>>>(x + r0 * k, m - r0, k, qweight, scales, zeros,
                                               g_idx, n, bits, y + r0 * ldy, ldy);
    }
    check_launch("dequant matmul kernel");
}

} // namespace gptq::cuda
