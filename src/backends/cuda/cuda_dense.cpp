// Dense (unquantized) layers on the CUDA device: W is widened to fp32 once at creation and
// kept resident; products run the backend's tiled GEMM kernel (cuda_linalg.cu).
#include "backends/cuda/cuda_backend.h"

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"

#include <algorithm>

namespace gptq::cuda {

namespace {

// Rows of X per pass: bounds the device copies of X and Y for very large m.
constexpr int64_t kMaxChunkElems = int64_t(16) << 20;

struct CudaDense final : DenseLayer {
    CudaDense(int64_t n, int64_t k, gptq_dtype dtype)
        : DenseLayer(n, k, dtype), weight(size_t(n * k)) {}
    DeviceBuffer<float> weight;  // [n][k] fp32
};

} // namespace

std::unique_ptr<DenseLayer> CudaBackend::create_dense(const void *w, gptq_dtype dtype, int64_t n,
                                                      int64_t k, int64_t ldw) {
    bind();
    auto d = std::make_unique<CudaDense>(n, k, dtype);
    upload_rows_f32(w, dtype, n, k, ldw, d->weight.get());
    check(cudaDeviceSynchronize(), "dense layer upload");
    return d;
}

void CudaBackend::matmul_dense(const DenseLayer &dl, const void *x, gptq_dtype dtype, int64_t m,
                               int64_t ldx, float *y, int64_t ldy) {
    bind();
    const auto &w = static_cast<const CudaDense &>(dl);
    const int64_t n = w.n(), k = w.k();
    const int64_t rows_per = std::max<int64_t>(1, kMaxChunkElems / std::max(n, k));
    const int64_t chunk = std::min(rows_per, m);
    DeviceBuffer<float> xs(size_t(chunk * k)), ys(size_t(chunk * n));
    const size_t es = dtype_size(dtype);
    for (int64_t r0 = 0; r0 < m; r0 += chunk) {
        const int64_t rows = std::min(chunk, m - r0);
        upload_rows_f32(static_cast<const char *>(x) + size_t(r0 * ldx) * es, dtype, rows, k, ldx,
                        xs.get());
        // Y(i, j) = sum_p X(i, p) * W(j, p): W read with strides (1, k) is W^T.
        gemm(rows, n, k, 1.0f, xs.get(), k, 1, w.weight.get(), 1, k, 0.0f, ys.get(), n);
        check(cudaMemcpy2D(y + r0 * ldy, size_t(ldy) * 4, ys.get(), size_t(n) * 4,
                           size_t(n) * 4, size_t(rows), cudaMemcpyDeviceToHost),
              "download of y");
    }
}

} // namespace gptq::cuda
