// CUDA backend: factory, Hessian accumulation and the quantized matmul.
#include "backends/cuda/cuda_backend.h"

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_device.h"
#include "backends/cuda/cuda_kernels.h"
#include "core/error.h"
#include "core/output_error.h"

#include <algorithm>
#include <vector>

namespace gptq {
namespace cuda {

void CudaBackend::bind() const { check(cudaSetDevice(device_), "cudaSetDevice"); }

void upload_rows_f32(const void *x, gptq_dtype dtype, int64_t m, int64_t k, int64_t ldx,
                     float *dst) {
    const size_t es = dtype_size(dtype);
    if (dtype == GPTQ_DTYPE_F32) {
        check(cudaMemcpy2D(dst, size_t(k) * 4, x, size_t(ldx) * 4, size_t(k) * 4, size_t(m),
                           cudaMemcpyHostToDevice),
              "upload of x");
        return;
    }
    DeviceBuffer<uint16_t> raw(size_t(m * k));
    check(cudaMemcpy2D(raw.get(), size_t(k) * es, x, size_t(ldx) * es, size_t(k) * es,
                       size_t(m), cudaMemcpyHostToDevice),
          "upload of x");
    half_to_f32(raw.get(), dtype, m * k, dst);
}

namespace {

// Sum of x x^T on the device. The sum stays on the device between batches; only
// read_scaled() brings it back.
class CudaHessian final : public HessianState {
public:
    CudaHessian(const CudaBackend &backend, int64_t k)
        : HessianState(k), backend_(backend), sum_(size_t(k * k)) {
        sum_.zero();
    }

    void add(const void *x, gptq_dtype dtype, int64_t n, int64_t ld) override {
        backend_.bind();
        if (given_) {
            // Turn the given (scaled) matrix back into a sum so new tokens weigh correctly;
            // with no token count it carries no weight and is dropped.
            std::vector<float> h(size_t(k_ * k_));
            sum_.download(h.data(), h.size());
            const float f = float(tokens_) / 2.0f;
            for (float &v : h) v *= f;
            sum_.upload(h.data(), h.size());
            given_ = false;
        }
        // Bounded device scratch: the batch goes through in chunks of rows.
        const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t(1) << 24) / k_));
        DeviceBuffer<float> xs(size_t(chunk * k_));
        const size_t es = dtype_size(dtype);
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {
            const int64_t rows = std::min(chunk, n - r0);
            const void *src = static_cast<const char *>(x) + size_t(r0 * ld) * es;
            upload_rows_f32(src, dtype, rows, k_, ld, xs.get());
            // sum[i][j] += sum_t x[t][i] * x[t][j]
            gemm(k_, k_, rows, 1.0f, xs.get(), 1, k_, xs.get(), k_, 1, 1.0f, sum_.get(), k_);
        }
        check(cudaDeviceSynchronize(), "Hessian accumulation");
        tokens_ += n;
    }

    void set(const float *h, int64_t n_tokens) override {
        backend_.bind();
        sum_.upload(h, size_t(k_ * k_));
        tokens_ = n_tokens;
        given_ = true;
    }

    // The device sum (unscaled, or the given H after set()).
    const float *device_sum() const { return sum_.get(); }

    void read_scaled(float *dst) const override {
        backend_.bind();
        sum_.download(dst, size_t(k_ * k_));
        if (given_) return;
        const float f = 2.0f / float(tokens_);
        for (int64_t i = 0; i < k_ * k_; ++i) dst[i] *= f;
    }

private:
    const CudaBackend &backend_;
    DeviceBuffer<float> sum_;
};

// A layer's checkpoint tensors resident on the device, made on first matmul.
struct CudaLayer final : DeviceLayer {
    DeviceBuffer<int32_t> qweight, zeros, g_idx;
    DeviceBuffer<float> scales;
};

const CudaLayer &resident(const QLayer &q, const CudaBackend *owner) {
    if (q.device && q.device_owner == owner) return static_cast<const CudaLayer &>(*q.device);
    auto d = std::make_unique<CudaLayer>();
    d->qweight = DeviceBuffer<int32_t>(q.qweight.size());
    d->qweight.upload(q.qweight.data(), q.qweight.size());
    d->zeros = DeviceBuffer<int32_t>(q.zeros.size());
    d->zeros.upload(q.zeros.data(), q.zeros.size());
    d->g_idx = DeviceBuffer<int32_t>(q.g_idx.size());
    d->g_idx.upload(q.g_idx.data(), q.g_idx.size());
    d->scales = DeviceBuffer<float>(q.scales.size());
    d->scales.upload(q.scales.data(), q.scales.size());
    q.device = std::move(d);
    q.device_owner = owner;
    return static_cast<const CudaLayer &>(*q.device);
}

} // namespace

std::unique_ptr<HessianState> CudaBackend::create_hessian(int64_t k) {
    bind();
    return std::make_unique<CudaHessian>(*this, k);
}

// Sum over rows of x_r^T H x_r: T = X H on the device, then the row dot products of T and
// X. A CUDA Hessian is used where it is (any positive multiple of H gives the same ratio).
double CudaBackend::relative_output_error(const QLayer &q, const float *w,
                                          const HessianState &hs) {
    bind();
    const int64_t n = q.n, k = q.k;
    DeviceBuffer<float> hbuf;
    const float *h = nullptr;
    if (const auto *ch = dynamic_cast<const CudaHessian *>(&hs)) {
        h = ch->device_sum();
    } else {
        std::vector<float> hh(size_t(k * k));
        hs.read_scaled(hh.data());
        hbuf = DeviceBuffer<float>(hh.size());
        hbuf.upload(hh.data(), hh.size());
        h = hbuf.get();
    }
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t(1) << 22) / k));
    DeviceBuffer<float> xs(size_t(rows * k)), ts(size_t(rows * k));
    std::vector<float> d(size_t(rows * k)), t(size_t(rows * k));
    auto forms = [&](const float *x, int64_t m) {
        xs.upload(x, size_t(m * k));
        gemm(m, k, k, 1.0f, xs.get(), k, 1, h, k, 1, 0.0f, ts.get(), k);  // T = X H
        ts.download(t.data(), size_t(m * k));
        double s = 0.0;
        for (int64_t i = 0; i < m * k; ++i) s += double(t[size_t(i)]) * double(x[i]);
        return s;
    };
    double num = 0.0, den = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        const int64_t m = std::min(rows, n - r0);
        den += forms(w + r0 * k, m);
        output_error_rows(q, w, r0, m, d.data());
        num += forms(d.data(), m);
    }
    return output_error_ratio(num, den);
}

void CudaBackend::matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m,
                         int64_t ldx, float *y, int64_t ldy) {
    bind();
    const CudaLayer &d = resident(q, this);
    DeviceBuffer<float> xs(size_t(m * q.k));
    upload_rows_f32(x, dtype, m, q.k, ldx, xs.get());
    DeviceBuffer<float> ys(size_t(m * q.n));
    dequant_matmul(xs.get(), m, q.k, d.qweight.get(), d.scales.get(), d.zeros.get(),
                   d.g_idx.get(), q.n, q.bits, ys.get(), q.n);
    check(cudaMemcpy2D(y, size_t(ldy) * 4, ys.get(), size_t(q.n) * 4, size_t(q.n) * 4,
                       size_t(m), cudaMemcpyDeviceToHost),
          "download of y");
}

} // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(const gptq_ctx_params &params) {
    std::string why;
    const int count = cuda::device_count(&why);
    if (count == 0)
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "CUDA backend: no CUDA device (cudaGetDeviceCount: %s)", why.c_str());
    if (params.device_index >= count)
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "CUDA backend: device_index %d out of range (%d CUDA device%s)",
             params.device_index, count, count == 1 ? "" : "s");
    cuda::check(cudaSetDevice(params.device_index), "cudaSetDevice");
    return std::make_unique<cuda::CudaBackend>(params.device_index,
                                               cuda::device_description(params.device_index));
}

} // namespace gptq
