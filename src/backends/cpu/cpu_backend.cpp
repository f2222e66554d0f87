// The CPU reference backend: wires the Hessian accumulator, the GPTQ loop and the quantized
// matmul to one persistent thread pool per context.
#include "backends/cpu/cpu_dense.h"
#include "backends/cpu/cpu_hessian.h"
#include "backends/cpu/cpu_matmul.h"
#include "backends/cpu/cpu_output_error.h"
#include "backends/cpu/gptq_loop.h"
#include "backends/cpu/thread_pool.h"
#include "core/backend.h"

#include <string>
#include <vector>

namespace gptq {

namespace {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads) : pool_(n_threads) {}

    gptq_backend kind() const override { return GPTQ_BACKEND_CPU; }

    std::string device_name() const override {
        const int n = pool_.size();
        return "CPU (" + std::to_string(n) + (n == 1 ? " thread)" : " threads)");
    }

    std::unique_ptr<HessianState> create_hessian(int64_t k) override {
        return std::make_unique<cpu::CpuHessian>(k, &pool_);
    }

    std::unique_ptr<GptqSession> start_gptq(const QuantOptions &opt, float *w, int64_t n,
                                            int64_t k, const HessianState &h) override {
        // A CPU accumulator is read in place; another backend's state is copied once.
        if (const auto *ch = dynamic_cast<const cpu::CpuHessian *>(&h))
            return cpu::start_cpu_gptq(opt, w, n, k, ch->view(), {}, &pool_);
        std::vector<float> hc(size_t(k) * size_t(k));
        h.read_scaled(hc.data());
        cpu::HessianView view;
        view.data = hc.data();
        view.k = k;
        return cpu::start_cpu_gptq(opt, w, n, k, view, std::move(hc), &pool_);
    }

    double relative_output_error(const QLayer &q, const float *w,
                                 const HessianState &h) override {
        return cpu::relative_output_error(q, w, h, &pool_);
    }

    void matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                float *y, int64_t ldy) override {
        cpu::cpu_matmul(q, x, dtype, m, ldx, y, ldy, &pool_);
    }

    std::unique_ptr<DenseLayer> create_dense(const void *w, gptq_dtype dtype, int64_t n, int64_t k,
                                             int64_t ldw) override {
        return cpu::make_dense(w, dtype, n, k, ldw);
    }

    void matmul_dense(const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m,
                      int64_t ldx, float *y, int64_t ldy) override {
        cpu::dense_matmul(w, x, dtype, m, ldx, y, ldy, &pool_);
    }

private:
    cpu::ThreadPool pool_;
};

} // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) {
    return std::make_unique<CpuBackend>(n_threads);
}

} // namespace gptq
