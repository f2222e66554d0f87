// The CUDA implementation of gptq::Backend. Quantization runs its O(k^3) preparation
// (Cholesky, inverse, Cholesky of the inverse) and the whole column loop on the device;
// the algorithm's decisions are core/gptq_driver.cpp's, see cuda_gptq.cpp.
//
// Status: the development machines and CI have nvcc but no GPU, so this backend is
// compile-checked (sm_80, sm_90) and its no-device path is tested; its kernels have not
// been executed here. tests/cuda/test_cuda.c compares it with the CPU backend wherever a
// device exists (and reports Skipped where none does).
#pragma once

#include "core/backend.h"

namespace gptq {
// The registry's entry points (src/core/backend_registry.cpp).
bool cuda_backend_available();
std::unique_ptr<Backend> make_cuda_backend(const gptq_ctx_params &params);
} // namespace gptq

namespace gptq::cuda {

class CudaBackend final : public Backend {
public:
    CudaBackend(int device, std::string name) : device_(device), name_(std::move(name)) {}

    gptq_backend kind() const override { return GPTQ_BACKEND_CUDA; }
    std::string device_name() const override { return name_; }
    std::unique_ptr<HessianState> create_hessian(int64_t k) override;
    std::unique_ptr<GptqSession> start_gptq(const QuantOptions &opt, float *w, int64_t n,
                                            int64_t k, const HessianState &h) override;
    double relative_output_error(const QLayer &q, const float *w,
                                 const HessianState &h) override;
    void matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                float *y, int64_t ldy) override;
    std::unique_ptr<DenseLayer> create_dense(const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                                             int64_t ldw) override;
    void matmul_dense(const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m,
                      int64_t ldx, float *y, int64_t ldy) override;

    // Makes this backend's device current on the calling thread (the current device is
    // per thread, and a context may move between threads).
    void bind() const;

private:
    int device_;
    std::string name_;
};

// Uploads rows x [m][k] (row stride ldx elements, F32/F16/BF16) and returns them as a
// contiguous fp32 device matrix.
void upload_rows_f32(const void *x, gptq_dtype dtype, int64_t m, int64_t k, int64_t ldx,
                     float *dst_device);

} // namespace gptq::cuda
