// The CPU backend's dense kernels at GPTQ's shapes against OpenBLAS in the same run: the
// trailing update of the column loop, the Hessian's symmetric rank-k update (fp32 and, where
// the CPU has it, AMX) and the inverse factor (the library's Cholesky + triangular inverse
// against OpenBLAS spotrf + strtri, the same two steps, and against LAPACK's three-step route
// spotrf + spotri + spotrf). White-box: calls the internal kernels directly.
//
//   bench_gemm [--quick] [--threads T] [K]        (default K = 4096, N = K rows of W)
//
// Medians of a few runs (the machine may be shared); ratio = OpenBLAS time / library time,
// so 1.00 means as fast as OpenBLAS. For the baseline's auto-detected kernel run with
// OPENBLAS_CORETYPE unset (`env -u OPENBLAS_CORETYPE build/bench/bench_gemm`).
#include "backends/cpu/cholesky.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/syrk_amx.h"
#include "backends/cpu/thread_pool.h"

extern "C" {
#include "bench_blas.h"
#include "bench_util.h"
}

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

namespace {

double median_time(int reps, const std::function<void()> &setup, const std::function<void()> &fn) {
    std::vector<double> t(size_t(reps), 0.0);
    for (int r = 0; r < reps; ++r) {
        setup();
        const double t0 = bench_now();
        fn();
        t[size_t(r)] = bench_now() - t0;
    }
    return bench_median(t.data(), reps);
}

void report(const char *what, double flops, double t_lib, double t_blas) {
    std::printf("%-44s lib %8.2f ms %7.1f GFLOP/s", what, t_lib * 1e3, flops / t_lib * 1e-9);
    if (t_blas > 0.0)
        std::printf(" | OpenBLAS %8.2f ms %7.1f GFLOP/s | ratio %.2f\n", t_blas * 1e3,
                    flops / t_blas * 1e-9, t_blas / t_lib);
    else
        std::printf(" | OpenBLAS -\n");
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
    int64_t k = 4096;
    int threads = 0, quick = 0;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = 1, k = 512;
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (std::atoi(argv[i]) > 0) k = std::atoi(argv[i]);
        else {
            std::fprintf(stderr, "usage: %s [--quick] [--threads T] [K]\n", argv[0]);
            return 2;
        }
    }
    const int64_t n = k, bs = 128;
    const int reps = quick ? 3 : 5;
    gptq::cpu::ThreadPool pool(threads);
    const bool blas = bench_blas_available();
    std::printf("bench_gemm: K = N = %lld, %d threads, micro-kernel %s; baseline %s\n",
                (long long)k, pool.size(), gptq::cpu::sgemm_kernel_name(), bench_blas_name());

    uint64_t seed = 3;
    std::vector<float> w(size_t(n * k)), u(size_t(k * k)), c(size_t(n * k));
    bench_randn(w.data(), w.size(), 0.02f, &seed);
    bench_randn(u.data(), u.size(), 0.1f, &seed);
    auto nop = [] {};

    // Trailing update W[:, i2:] -= E U[i1:i2, i2:]: E is a 128-column block of W (row
    // stride K), the first block (widest) and the middle one (the average width).
    for (int64_t i2 : {bs, k / 2}) {
        const int64_t cols = k - i2;
        const float *e = w.data() + (i2 - bs), *ub = u.data() + (i2 - bs) * k + i2;
        float *cc = c.data() + i2;
        const double t_lib = median_time(reps, nop, [&] {
            gptq::cpu::sgemm(false, false, n, cols, bs, -1.0f, e, k, ub, k, 1.0f, cc, k, &pool);
        });
        const double t_blas = !blas ? 0.0 : median_time(reps, nop, [&] {
            bench_blas_sgemm(0, 0, n, cols, bs, -1.0f, e, k, ub, k, 1.0f, cc, k);
        });
        char what[96];
        std::snprintf(what, sizeof what, "trailing update %lld x %lld x %lld (sgemm)",
                      (long long)n, (long long)cols, (long long)bs);
        report(what, 2.0 * double(n) * double(cols) * double(bs), t_lib, t_blas);
    }

    // Hessian: H[lower] += X^T X for a batch of tokens (bench_quantize adds 256 at a time).
    for (int64_t tokens : {int64_t(256), int64_t(quick ? 512 : 2048)}) {
        std::vector<float> x(size_t(tokens * k));
        bench_randn(x.data(), x.size(), 1.0f, &seed);
        const double t_lib = median_time(reps, nop, [&] {
            gptq::cpu::sgemm_lower(true, false, k, tokens, 1.0f, x.data(), k, x.data(), k, 1.0f,
                                   u.data(), k, &pool);
        });
        const double t_blas = !blas ? 0.0 : median_time(reps, nop, [&] {
            bench_blas_syrk_lower(k, tokens, x.data(), k, u.data(), k);
        });
        char what[96];
        std::snprintf(what, sizeof what, "hessian %lld tokens, K %lld (syrk, one triangle)",
                      (long long)tokens, (long long)k);
        report(what, double(tokens) * double(k) * double(k + 1), t_lib, t_blas);
        // The AMX kernel CpuHessian uses by default where the CPU has it (three bf16 parts
        // per fp32 value, six products), on the same data.
        if (gptq::cpu::amx_supported()) {
            std::vector<uint16_t> ws;
            const double t_amx = median_time(reps, nop, [&] {
                gptq::cpu::syrk_lower_amx(u.data(), k, x.data(), k, tokens, 3, &ws, &pool);
            });
            std::snprintf(what, sizeof what, "hessian %lld tokens, K %lld (AMX bf16 x 3)",
                          (long long)tokens, (long long)k);
            report(what, double(tokens) * double(k) * double(k + 1), t_amx, t_blas);
        }
    }

    // Inverse factor of a well-conditioned SPD matrix (X^T X / T + damping).
    {
        const int64_t tokens = 2 * k;
        std::vector<float> x(size_t(tokens * k)), h(size_t(k * k), 0.0f), a(h.size());
        bench_activations(x.data(), tokens, k, &seed);
        gptq::cpu::sgemm(true, false, k, k, tokens, 1.0f / float(tokens), x.data(), k, x.data(),
                         k, 0.0f, h.data(), k, &pool);
        for (int64_t i = 0; i < k; ++i) h[size_t(i * k + i)] += 0.1f;
        auto reset = [&] { a = h; };
        bool ok = true;
        const double t_lib = median_time(reps, reset, [&] {
            ok = ok && gptq::cpu::gptq_inverse_factor(a.data(), k, k, &pool);
        });
        bool blas_ok = true;
        const double t_blas = !blas ? 0.0 : median_time(reps, reset, [&] {
            blas_ok = blas_ok && bench_blas_upper_factor_inverse(a.data(), k) == 0;
        });
        const double t_blas3 = !blas ? 0.0 : median_time(reps, reset, [&] {
            blas_ok = blas_ok && bench_blas_inverse_factor(a.data(), k) == 0;
        });
        if (!ok || !blas_ok) std::fprintf(stderr, "warning: inverse factor failed\n");
        char what[96];
        // Flops of the two steps: potrf k^3/3, trtri k^3/3.
        std::snprintf(what, sizeof what, "inverse factor K %lld (potrf+trtri)", (long long)k);
        report(what, 2.0 / 3.0 * double(k) * double(k) * double(k), t_lib, t_blas);
        std::snprintf(what, sizeof what, "  the same vs OpenBLAS potrf+potri+potrf");
        report(what, 2.0 / 3.0 * double(k) * double(k) * double(k), t_lib, t_blas3);
    }
    return 0;
}
