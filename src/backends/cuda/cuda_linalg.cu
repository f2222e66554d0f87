// Dense fp32 linear algebra for the GPTQ preparation (docs/gptq-reference.md §2.6) and the lazy trailing
// update (docs/gptq-reference.md §3): a strided tiled GEMM, an unblocked right-looking Cholesky and a
// triangular inverse. Written for clarity: one kernel launch per pivot, no tensor cores
// (docs/gptq-reference.md requires fp32 arithmetic throughout). The O(k^3) work is on the device; the
// host only sequences launches.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"

namespace gptq::cuda {
namespace {

constexpr int kTile = 16;

__global__ void gemm_kernel(int64_t m, int64_t n, int64_t depth, float alpha, const float *a,
                            int64_t a_si, int64_t a_sp, const float *b, int64_t b_sp,
                            int64_t b_sj, float beta, float *c, int64_t ldc) {
    __shared__ float as[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
    __shared__ float bs[kTile][kTile + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t i = int64_t(blockIdx.y) * kTile + ty;
    const int64_t j = int64_t(blockIdx.x) * kTile + tx;
    float acc = 0.0f;
    for (int64_t p0 = 0; p0 < depth; p0 += kTile) {
        const int64_t ia = int64_t(blockIdx.y) * kTile + ty, pa = p0 + tx;
        as[ty][tx] = (ia < m && pa < depth) ? a[ia * a_si + pa * a_sp] : 0.0f;
        const int64_t pb = p0 + ty, jb = int64_t(blockIdx.x) * kTile + tx;
        bs[ty][tx] = (pb < depth && jb < n) ? b[pb * b_sp + jb * b_sj] : 0.0f;
        __syncthreads();
        for (int p = 0; p < kTile; ++p) acc += as[ty][p] * bs[p][tx];
        __syncthreads();
    }
    if (i < m && j < n) {
        float *out = c + i * ldc + j;
        *out = beta == 0.0f ? alpha * acc : beta * *out + alpha * acc;
    }
}

// Pivot j: checks a[j][j] and scales column j below it by 1/sqrt(a[j][j]). One block.
__global__ void chol_pivot_kernel(float *a, int64_t k, int64_t j, int *flag) {
    if (*flag) return;  // an earlier pivot failed: the rest is meaningless
    const float d = a[j * k + j];
    __syncthreads();  // every thread has read d before thread 0 overwrites it
    if (!(d > 0.0f) || !isfinite(d)) {
        if (threadIdx.x == 0) *flag = 1;
        return;
    }
    const float s = sqrtf(d);
    for (int64_t i = j + 1 + threadIdx.x; i < k; i += blockDim.x) a[i * k + j] /= s;
    if (threadIdx.x == 0) a[j * k + j] = s;
}

// Trailing update of the lower triangle: a[i][l] -= a[i][j] * a[l][j] for j < l <= i.
__global__ void chol_update_kernel(float *a, int64_t k, int64_t j, const int *flag) {
    if (*flag) return;
    const int64_t l = j + 1 + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t i = j + 1 + int64_t(blockIdx.y) * blockDim.y + threadIdx.y;
    if (i >= k || l > i) return;
    a[i * k + l] -= a[i * k + j] * a[l * k + j];
}

__global__ void identity_kernel(float *x, int64_t k) {
    const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t i = int64_t(blockIdx.y) * blockDim.y + threadIdx.y;
    if (i < k && j < k) x[i * k + j] = i == j ? 1.0f : 0.0f;
}

// Forward substitution, step i (rows < i are final): row i of X = L^-1 is divided by
// l[i][i]. Only columns <= i can be non-zero.
__global__ void tri_scale_row_kernel(const float *l, float *x, int64_t k, int64_t i) {
    const float d = l[i * k + i];
    for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) x[i * k + j] /= d;
}

// ... then subtracted from every later row: x[r][j] -= l[r][i] * x[i][j], r > i, j <= i.
__global__ void tri_update_kernel(const float *l, float *x, int64_t k, int64_t i) {
    const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t r = i + 1 + int64_t(blockIdx.y) * blockDim.y + threadIdx.y;
    if (j > i || r >= k) return;
    x[r * k + j] -= l[r * k + i] * x[i * k + j];
}

__global__ void transpose_kernel(const float *src, int64_t rows, int64_t cols, float *dst) {
    __shared__ float tile[kTile][kTile + 1];
    const int64_t c = int64_t(blockIdx.x) * kTile + threadIdx.x;
    const int64_t r = int64_t(blockIdx.y) * kTile + threadIdx.y;
    if (r < rows && c < cols) tile[threadIdx.y][threadIdx.x] = src[r * cols + c];
    __syncthreads();
    const int64_t oc = int64_t(blockIdx.y) * kTile + threadIdx.x;  // column of dst = row of src
    const int64_t orow = int64_t(blockIdx.x) * kTile + threadIdx.y;
    if (orow < cols && oc < rows) dst[orow * rows + oc] = tile[threadIdx.x][threadIdx.y];
}

unsigned blocks_for(int64_t count, int per) { return unsigned((count + per - 1) / per); }

} // namespace

void gemm(int64_t m, int64_t n, int64_t depth, float alpha, const float *a, int64_t a_si,
          int64_t a_sp, const float *b, int64_t b_sp, int64_t b_sj, float beta, float *c,
          int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    const dim3 block(kTile, kTile);
    const dim3 grid(blocks_for(n, kTile), blocks_for(m, kTile));
    gemm_kernel<<<grid, block>>>(m, n, depth, alpha, a, a_si, a_sp, b, b_sp, b_sj, beta, c, ldc);
    check_launch("gemm kernel");
}

bool cholesky_lower(float *a, int64_t k, int *flag) {
    check(cudaMemset(flag, 0, sizeof(int)), "cudaMemset");
    const dim3 block(kTile, kTile);
    for (int64_t j = 0; j < k; ++j) {
        chol_pivot_kernel<<<1, 256>>>(a, k, j, flag);
        const int64_t rest = k - j - 1;
        if (rest > 0) {
            const dim3 grid(blocks_for(rest, kTile), blocks_for(rest, kTile));
            chol_update_kernel<<<grid, block>>>(a, k, j, flag);
        }
    }
    check_launch("Cholesky kernels");
    int failed = 0;
    check(cudaMemcpy(&failed, flag, sizeof(int), cudaMemcpyDeviceToHost), "Cholesky");
    return failed == 0;
}

void tri_inverse_lower(const float *l, float *x, int64_t k) {
    const dim3 block(kTile, kTile);
    identity_kernel<<<dim3(blocks_for(k, kTile), blocks_for(k, kTile)), block>>>(x, k);
    for (int64_t i = 0; i < k; ++i) {
        tri_scale_row_kernel<<<1, 256>>>(l, x, k, i);
        const int64_t rest = k - i - 1;
        if (rest > 0) {
            const dim3 grid(blocks_for(i + 1, kTile), blocks_for(rest, kTile));
            tri_update_kernel<<<grid, block>>>(l, x, k, i);
        }
    }
    check_launch("triangular inverse kernels");
}

void transpose(const float *src, int64_t rows, int64_t cols, float *dst) {
    const dim3 grid(blocks_for(cols, kTile), blocks_for(rows, kTile));
    transpose_kernel<<<grid, dim3(kTile, kTile)>>>(src, rows, cols, dst);
    check_launch("transpose kernel");
}

} // namespace gptq::cuda
