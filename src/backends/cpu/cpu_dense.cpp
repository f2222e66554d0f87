#include "backends/cpu/cpu_dense.h"

#include "backends/cpu/convert.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace gptq::cpu {

namespace {

// Rows of X converted per pass when X is 16-bit: bounds the fp32 copy, and W's panels are
// re-widened once per pass, which costs n*k conversions against 2*rows*n*k flops.
constexpr int64_t kXChunkRows = 2048;
// fp32 floats per widened W panel (16 MiB). The GEMM packs all of X once per panel, so few
// wide panels matter more than cache fit: a 2048 x 5632 layer takes two.
constexpr int64_t kPanelElems = int64_t(1) << 22;

class CpuDense final : public DenseLayer {
public:
    CpuDense(const void *w, gptq_dtype dtype, int64_t n, int64_t k, int64_t ldw)
        : DenseLayer(n, k, dtype) {
        const size_t es = dtype == GPTQ_DTYPE_F32 ? 4 : 2;
        data_.resize(size_t(n) * size_t(k) * es);
        const auto *src = static_cast<const uint8_t *>(w);
        for (int64_t r = 0; r < n; ++r)
            std::memcpy(data_.data() + size_t(r * k) * es, src + size_t(r * ldw) * es,
                        size_t(k) * es);
    }
    const void *data() const { return data_.data(); }

private:
    std::vector<uint8_t> data_;  // [n][k] in dtype()
};

// Widens rows [r0, r0 + rows) of the 16-bit W into dst [rows x k], split over the pool.
void widen_panel(const CpuDense &w, int64_t r0, int64_t rows, float *dst, ThreadPool *pool) {
    const int64_t parts = pool ? std::min<int64_t>(pool->size(), rows) : 1;
    auto task = [&](int64_t part, int) {
        int64_t b, e;
        split_range(rows, parts, part, &b, &e);
        rows_to_f32(w.data(), w.dtype(), w.k(), r0 + b, e - b, w.k(), dst + b * w.k(), w.k());
    };
    if (pool && parts > 1)
        pool->parallel_for(parts, task);
    else
        task(0, 0);
}

// y [rows x n] = xf [rows x k] (fp32, row stride ldx) * W^T.
void product(const CpuDense &w, const float *xf, int64_t rows, int64_t ldx, float *y,
             int64_t ldy, std::vector<float> &panel, ThreadPool *pool) {
    const int64_t n = w.n(), k = w.k();
    if (w.dtype() == GPTQ_DTYPE_F32) {
        sgemm(false, true, rows, n, k, 1.0f, xf, ldx, static_cast<const float *>(w.data()), k,
              0.0f, y, ldy, pool);
        return;
    }
    // Whole 16-column strips per panel, so every panel fills the GEMM's register tiles.
    const int64_t panel_rows = std::min(n, std::max<int64_t>(16, kPanelElems / k / 16 * 16));
    panel.resize(size_t(panel_rows * k));
    for (int64_t n0 = 0; n0 < n; n0 += panel_rows) {
        const int64_t nr = std::min(panel_rows, n - n0);
        widen_panel(w, n0, nr, panel.data(), pool);
        sgemm(false, true, rows, nr, k, 1.0f, xf, ldx, panel.data(), k, 0.0f, y + n0, ldy, pool);
    }
}

} // namespace

std::unique_ptr<DenseLayer> make_dense(const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                                       int64_t ldw) {
    return std::make_unique<CpuDense>(w, dtype, n, k, ldw);
}

void dense_matmul(const DenseLayer &dl, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                  float *y, int64_t ldy, ThreadPool *pool) {
    const auto &w = static_cast<const CpuDense &>(dl);
    std::vector<float> panel;
    if (dtype == GPTQ_DTYPE_F32) {
        product(w, static_cast<const float *>(x), m, ldx, y, ldy, panel, pool);
        return;
    }
    const int64_t chunk = std::min(kXChunkRows, m);
    std::vector<float> xbuf(size_t(chunk * w.k()));
    for (int64_t r0 = 0; r0 < m; r0 += chunk) {
        const int64_t rows = std::min(chunk, m - r0);
        rows_to_f32(x, dtype, ldx, r0, rows, w.k(), xbuf.data(), w.k());
        product(w, xbuf.data(), rows, w.k(), y + r0 * ldy, ldy, panel, pool);
    }
}

} // namespace gptq::cpu
