// The Vulkan quantizer's big kernels alone, each family next to the other in the same run
// (vk_products.h): the Hessian sum (GFLOP/s of the full K x K product, 2 K^2 T, though
// only one triangle is computed) for fp32/f16/bf16 activations, and the GPTQ column loop
// (gptq_block, trailing_update: device timestamps summed over all blocks) on synthetic
// buffers, dispatched as VkGptqSession records them (per-row parameters, block 128).
// Without a factorisation, so K = 5632 or more stays quick on lavapipe.
//
//   bench_vk_quant_kernels [--k K] [--n N] [--tokens T] [--skip-tiled] [--skip-loop]
//
// GPTQ_VULKAN_MAX_BUFFER_RANGE=<bytes> lowers the planned storage-buffer range, which
// times the addressed builds (shaders/addressed.glsl). Prints timings only.
#include "backends/vulkan/vk_backend.h"
#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_products.h"
#include "backends/vulkan/vk_push_constants.h"
#include "core/half.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using gptq::vk::Context;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bench_hessian(gptq::vk::VulkanBackend &b, int64_t k, int64_t tokens, bool bcast) {
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    std::vector<float> x(size_t(tokens * k));
    for (float &v : x) v = nd(rng);
    std::vector<uint16_t> xh(x.size()), xb(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        xh[i] = gptq::f32_to_f16(x[i]);
        xb[i] = gptq::f32_to_bf16(x[i]);
    }
    b.context().products = bcast ? Context::Products::Bcast : Context::Products::Tiled;
    const char *names[] = {"f32", "f16", "bf16"};
    const void *data[] = {x.data(), xh.data(), xb.data()};
    for (int d = 0; d < 3; ++d) {
        auto h = b.create_hessian(k);
        h->add(data[d], gptq_dtype(d), std::min<int64_t>(tokens, 4), k);  // builds the pipeline
        const auto t0 = std::chrono::steady_clock::now();
        h->add(data[d], gptq_dtype(d), tokens, k);
        const double s = seconds_since(t0);
        std::printf("hessian %-6s K %5lld, %5lld tokens, %-4s: %8.3f s  %6.2f GFLOP/s\n",
                    bcast ? "bcast" : "tiled", (long long)k, (long long)tokens, names[d], s,
                    2.0 * double(k) * double(k) * double(tokens) / s / 1e9);
    }
}

void bench_loop(gptq::vk::VulkanBackend &b, int64_t n, int64_t k, bool bcast) {
    using namespace gptq::vk;
    Context &ctx = b.context();
    const uint32_t N = uint32_t(n), K = uint32_t(k), bs = 128;
    std::mt19937 rng(2);
    std::normal_distribution<float> nd;
    std::vector<float> wt(size_t(n * k)), u(size_t(k * k), 0.0f), params(size_t(n) * 2);
    for (float &v : wt) v = nd(rng);
    for (int64_t i = 0; i < k; ++i) {  // an upper-triangular U with a dominant diagonal
        u[size_t(i * k + i)] = 1.0f;
        for (int64_t j = i + 1; j < std::min(k, i + 300); ++j) u[size_t(i * k + j)] = 0.01f * nd(rng);
    }
    for (int64_t r = 0; r < n; ++r) {
        params[size_t(2 * r)] = 0.4f;
        params[size_t(2 * r + 1)] = 8.0f;
    }
    const Device &dev = ctx.device;
    Buffer wt_b(dev, wt.size() * 4, Buffer::DeviceLocal, "Wt"), u_b(dev, u.size() * 4, Buffer::DeviceLocal, "U");
    Buffer p_b(dev, params.size() * 4, Buffer::DeviceLocal, "params");
    Buffer codes(dev, size_t((k + 3) / 4 * n) * 4, Buffer::DeviceLocal, "codes");
    Buffer err(dev, size_t(bs * n) * 4, Buffer::DeviceLocal, "err");
    Buffer loss(dev, size_t(n) * 4, Buffer::DeviceLocal, "loss");
    Buffer perm(dev, size_t(k) * 4, Buffer::DeviceLocal, "perm");
    {
        Recorder rec(ctx);
        rec.upload(wt_b, wt.data(), wt.size() * 4);
        rec.upload(u_b, u.data(), u.size() * 4);
        rec.upload(p_b, params.data(), params.size() * 4);
        rec.fill_zero(codes);
        rec.fill_zero(loss);
        rec.fill_zero(perm);
        rec.submit();
    }
    ctx.block_bcast = bcast;
    ctx.profiling = true;
    ctx.stage_times.clear();
    const auto t0 = std::chrono::steady_clock::now();
    for (uint32_t i1 = 0; i1 < K; i1 += bs) {
        Recorder rec(ctx);
        const uint32_t i2 = std::min(K, i1 + bs), width = i2 - i1;
        const uint32_t per = std::max<uint32_t>(1, kLoopBudget / width);
        for (uint32_t c0 = i1; c0 < i2; c0 += per) {
            const BlockPC pb{N, K, i1, i2, c0, std::min(i2, c0 + per), K, 4, GPTQ_PARAMS_ROW, 0};
            const bool use = bcast && ctx.pipelines.has(Kernel::GptqBlockBcast);
            rec.dispatch(use ? Kernel::GptqBlockBcast : Kernel::GptqBlock,
                         {&wt_b, &u_b, &p_b, &codes, &err, &loss, &perm}, pb,
                         groups(n, use ? kBlockBcastWorkgroup : kBlockWorkgroup));
            rec.barrier();
        }
        rec.mark("gptq_block");
        if (i2 < K) {
            record_trailing_update(rec, ctx, bcast, wt_b, u_b, err, N, K, i1, i2);
            rec.mark("trailing_update");
        }
        rec.submit();
    }
    const double wall = seconds_since(t0);
    std::printf("column loop %-6s n %5lld, K %5lld: wall %8.1f ms;", bcast ? "bcast" : "tiled",
                (long long)n, (long long)k, wall * 1e3);
    for (const auto &s : ctx.stage_times) std::printf("  %s %.1f ms", s.stage.c_str(), s.ms);
    std::printf("\n");
    ctx.profiling = false;
    ctx.block_bcast = true;
}

} // namespace

int main(int argc, char **argv) {
    int64_t k = 2048, n = 256, tokens = 2048;
    bool tiled = true, loop = true;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        if (s == "--k" && i + 1 < argc) k = std::atoll(argv[++i]);
        else if (s == "--n" && i + 1 < argc) n = std::atoll(argv[++i]);
        else if (s == "--tokens" && i + 1 < argc) tokens = std::atoll(argv[++i]);
        else if (s == "--skip-tiled") tiled = false;
        else if (s == "--skip-loop") loop = false;
        else {
            std::fprintf(stderr, "usage: bench_vk_quant_kernels [--k K] [--n N] [--tokens T] "
                                 "[--skip-tiled] [--skip-loop]\n");
            return 2;
        }
    }
    if (k < 1 || n < 1 || tokens < 0) return 2;
    gptq_ctx_params p{};
    p.struct_size = sizeof p;
    p.backend = GPTQ_BACKEND_VULKAN;
    try {
        gptq::vk::VulkanBackend b(p);
        std::printf("%s\n", b.device_name().c_str());
        for (bool bcast : {true, false}) {
            if (!bcast && !tiled) continue;
            if (tokens > 0) bench_hessian(b, k, tokens, bcast);
            if (loop) bench_loop(b, n, k, bcast);
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_vk_quant_kernels: %s\n", e.what());
        return 77;
    }
    return 0;
}
