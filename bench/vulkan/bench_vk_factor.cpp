// The Vulkan inverse-Hessian factor alone (src/backends/vulkan/vk_factor.h): for each K, the
// device stage times (timestamp queries), the wall time of the whole call (upload, factor,
// download) and the process CPU time (which includes the driver's worker threads, so on
// lavapipe it is the work done, less sensitive to other load than the wall time). The
// pipelines are built by an untimed K = 100 first.
//   bench_vk_factor [K ...]      (default 1024 2048)
// Exits 77 without a Vulkan device.
#include "backends/vulkan/vk_backend.h"
#include "backends/vulkan/vk_factor.h"
#include "core/error.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <vector>

namespace {

double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// A damped-Hessian-like SPD matrix: I (scaled) plus small random symmetric entries, strictly
// diagonally dominant, so any K factors.
std::vector<float> spd(int64_t k) {
    std::mt19937_64 gen(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> h(size_t(k * k));
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < i; ++j) h[size_t(i * k + j)] = h[size_t(j * k + i)] = u(gen) / float(k);
    for (int64_t i = 0; i < k; ++i) h[size_t(i * k + i)] = 2.0f;
    return h;
}

} // namespace

int main(int argc, char **argv) {
    std::vector<int64_t> ks;
    for (int i = 1; i < argc; ++i) {
        const long long k = std::atoll(argv[i]);
        if (k < 1 || k > 65535) {
            std::fprintf(stderr, "usage: bench_vk_factor [K ...] (1 <= K <= 65535)\n");
            return 2;
        }
        ks.push_back(k);
    }
    if (ks.empty()) ks = {1024, 2048};
    gptq_ctx_params p{};
    p.struct_size = sizeof p;
    p.backend = GPTQ_BACKEND_VULKAN;
    std::unique_ptr<gptq::vk::VulkanBackend> backend;
    try {
        backend = std::make_unique<gptq::vk::VulkanBackend>(p);
    } catch (const gptq::Error &e) {
        std::fprintf(stderr, "bench_vk_factor: skipped: %s\n", e.what());
        return 77;
    }
    auto &ctx = backend->context();
    std::printf("%s\n", backend->device_name().c_str());
    {  // builds the pipelines, so that the first K's times do not include the compilation
        const int64_t k = 100;
        const std::vector<float> h = spd(k);
        std::vector<float> u(h.size());
        if (!gptq::vk::device_inverse_factor(ctx, h.data(), k, u.data())) return 1;
    }
    for (const int64_t k : ks) {
        const std::vector<float> h = spd(k);
        std::vector<float> u(h.size());
        ctx.profiling = true;
        ctx.stage_times.clear();
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        const bool ok = gptq::vk::device_inverse_factor(ctx, h.data(), k, u.data());
        const double cpu = cpu_seconds() - c0;
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ctx.profiling = false;
        std::printf("K %lld%s: wall %.3f s, process CPU %.3f s (%.2f GFLOP of 2K^3/3 per CPU second)",
                    (long long)k, ok ? "" : " (FAILED)", wall, cpu,
                    2.0 * double(k) * double(k) * double(k) / 3.0 / cpu * 1e-9);
        for (const auto &s : ctx.stage_times) std::printf(", %s %.1f ms", s.stage.c_str(), s.ms);
        std::printf("\n");
        std::fflush(stdout);
        if (!ok) return 1;
    }
    return 0;
}
