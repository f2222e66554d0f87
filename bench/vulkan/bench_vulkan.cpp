// Vulkan backend benchmark, next to the CPU backend in the same run: for one N x K layer,
// the time of every quantization stage on the device (timestamp queries) plus wall times,
// and the quantized matmul as GEMV (m = 1) and GEMM (m = --m) on both backends, the host
// cost of one GEMV call (wall time minus the device's own timestamps, layer resident) and
// the device allocations each call makes.
//
//   bench_vulkan [--n N] [--k K] [--tokens T] [--m M] [--reps R] [--cpu-threads T] [--no-cpu]
//                [--matmul-only] [--compare] [--gemv-per-feature | --gemv-subgroup |
//                --gemv-shuffle | --gemv-direct | --gemv-direct-wide] [--group G] | --probe
//
// --probe prints the Vulkan devices and exits 0 if device 0 is a real GPU, 77 if it is a
// CPU implementation (lavapipe) or there is none (scripts/gpu_check.sh asks it).
// --matmul-only skips the Hessian and quantization and multiplies a random 4-bit g128
// act-order layer (how the matmul targets are measured at 4096 x 14336). --gemv-* force one
// kernel instead of the one measured fastest on the first call. --compare (implies
// --matmul-only) runs every kernel on one layer, calls interleaved, at m = 1 and m = --m
// (kernels that do not serve m > 8 fall back to the tiled GEMM there) and prints the median
// wall and process CPU time per call: the CPU time includes the driver's worker threads, so
// on a loaded machine it compares kernels where wall time cannot.
// --host measures only the host cost of a GEMV call on a resident layer (--reps calls,
// medians: wall, wall minus the device timestamps, CPU time of the calling thread) next to
// the driver's floor, an empty submit and fence wait (host_floor.h).
// Defaults (1024 x 1024) finish in a couple of minutes on lavapipe; the reference
// size is --n 4096 --k 4096. Prints timings only; never asserts on them.
#include "backends/vulkan/vk_backend.h"
#include "backends/vulkan/vk_buffer.h"
#include "backends/vulkan/vk_instance.h"
#include "backends/vulkan/vk_memory.h"
#include "host_floor.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/options.h"
#include "core/pack.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

struct Args {
    int64_t n = 1024, k = 1024, tokens = 2048, m = 128;
    int reps = 3;
    int cpu_threads = 0;
    bool cpu = true;
    bool matmul_only = false;
    bool compare = false;
    bool host = false;
    gptq::vk::GemvKernel gemv = gptq::vk::GemvKernel::Auto;
    int group = 128;
};

Args parse(int argc, char **argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto next = [&]() -> int64_t {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", s.c_str());
                std::exit(2);
            }
            return std::atoll(argv[++i]);
        };
        if (s == "--n") a.n = next();
        else if (s == "--k") a.k = next();
        else if (s == "--tokens") a.tokens = next();
        else if (s == "--m") a.m = next();
        else if (s == "--reps") a.reps = int(next());
        else if (s == "--cpu-threads") a.cpu_threads = int(next());
        else if (s == "--no-cpu") a.cpu = false;
        else if (s == "--matmul-only") a.matmul_only = true;
        else if (s == "--compare") a.compare = a.matmul_only = true;
        else if (s == "--host") a.host = a.matmul_only = true;
        else if (s == "--gemv-per-feature") a.gemv = gptq::vk::GemvKernel::PerFeature;
        else if (s == "--gemv-subgroup") a.gemv = gptq::vk::GemvKernel::Subgroup;
        else if (s == "--gemv-direct") a.gemv = gptq::vk::GemvKernel::Direct;
        else if (s == "--gemv-direct-wide") a.gemv = gptq::vk::GemvKernel::DirectWide;
        else if (s == "--gemv-shuffle") a.gemv = gptq::vk::GemvKernel::Shuffle;
        else if (s == "--group") a.group = int(next());
        else {
            std::fprintf(stderr,
                         "usage: bench_vulkan [--n N] [--k K] [--tokens T] [--m M] [--reps R] "
                         "[--cpu-threads T (0 = all)] [--no-cpu] [--matmul-only] [--compare] [--gemv-per-feature | --gemv-subgroup | --gemv-shuffle | --gemv-direct | --gemv-direct-wide] [--group G]\n");
            std::exit(2);
        }
    }
    if (a.n < 1 || a.k < 1 || a.tokens < 1 || a.m < 1 || a.reps < 1) {
        std::fprintf(stderr, "sizes must be positive\n");
        std::exit(2);
    }
    return a;
}

// CPU time of the whole process (the driver's worker threads included): what a kernel costs
// even when the shared machine keeps it waiting for a processor.
double process_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

// CPU time of the calling thread: the host work of a call without the waits (on a shared
// machine the wall-clock figure also counts time spent descheduled).
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The checkpoint-layout layer from a quantization result (as the library's C API does).
gptq::QLayer to_qlayer(const gptq::QuantResult &r, const gptq::QuantOptions &opt) {
    gptq::QLayer q;
    q.n = r.n;
    q.k = r.k;
    q.bits = opt.bits;
    q.group_size = opt.group_size;
    q.group_cols = opt.group_cols(r.k);
    q.n_groups = r.n_groups;
    q.desc_act = opt.desc_act;
    if (!r.qweight.empty()) {
        q.qweight = r.qweight;  // packed by the backend (Vulkan packs on the device)
    } else {
        std::vector<uint8_t> t(size_t(r.n * r.k));  // [k][n]
        for (int64_t i = 0; i < r.n; ++i)
            for (int64_t j = 0; j < r.k; ++j) t[size_t(j * r.n + i)] = r.codes[size_t(i * r.k + j)];
        q.qweight.assign(size_t(gptq::packed_len(r.k, opt.bits) * r.n), 0);
        gptq::pack_rows(t.data(), r.k, r.n, opt.bits, q.qweight.data());
    }
    q.scales = r.scales;
    q.zeros = r.zeros;
    q.g_idx = r.g_idx;
    q.perm = r.perm;
    return q;
}

// A random 4-bit layer in checkpoint layout (act-order g_idx from a random permutation).
gptq::QLayer random_layer(int64_t n, int64_t k, const gptq::QuantOptions &opt) {
    std::mt19937_64 gen(5);
    gptq::QLayer q;
    q.n = n;
    q.k = k;
    q.bits = opt.bits;
    q.group_size = opt.group_size;
    q.group_cols = opt.group_cols(k);
    q.n_groups = opt.n_groups(k);
    q.desc_act = opt.desc_act;
    std::vector<uint8_t> codes(size_t(k * n));
    for (auto &c : codes) c = uint8_t(gen() % (1u << opt.bits));
    q.qweight.assign(size_t(gptq::packed_len(k, opt.bits) * n), 0);
    gptq::pack_rows(codes.data(), k, n, opt.bits, q.qweight.data());
    q.scales.resize(size_t(q.n_groups * n));
    q.zeros.resize(size_t(q.n_groups * n));
    for (auto &v : q.scales) v = 0.001f + float(gen() % 1000) * 1e-5f;
    for (auto &z : q.zeros) z = int32_t(gen() % (1u << opt.bits));
    q.perm.resize(size_t(k));
    for (int64_t i = 0; i < k; ++i) q.perm[size_t(i)] = int32_t(i);
    std::shuffle(q.perm.begin(), q.perm.end(), gen);
    q.g_idx.resize(size_t(k));
    for (int64_t i = 0; i < k; ++i) q.g_idx[size_t(q.perm[size_t(i)])] = int32_t(i / q.group_cols);
    return q;
}

struct Timing {
    double hessian_ms = 0, quantize_ms = 0, gemv_ms = 0, gemm_ms = 0;
    double host_us = -1;  // per GEMV call: wall minus device timestamps (Vulkan only)
    double host_cpu_us = -1;  // per GEMV call: CPU time of the calling thread (not profiled)
    double quantize_allocs = 0, quantize_buffers = 0, matmul_allocs = 0, matmul_buffers = 0;
};

void bench_matmul(gptq::Backend &b, const Args &a, const gptq::QLayer &q,
                  const std::vector<float> &x, gptq::vk::Context *vk_ctx, Timing &t) {
    std::vector<float> y(size_t(a.m * a.n));
    const int64_t m = a.m;
    b.matmul(q, x.data(), GPTQ_DTYPE_F32, 1, a.k, y.data(), a.n);  // warm-up, uploads
    b.matmul(q, x.data(), GPTQ_DTYPE_F32, m, a.k, y.data(), a.n);
    const uint64_t allocs0 = gptq::vk::device_memory_allocations();
    const uint64_t bufs0 = gptq::vk::buffers_created();
    double t0 = now_ms();
    const double c0 = thread_cpu_ms();
    for (int i = 0; i < a.reps; ++i) b.matmul(q, x.data(), GPTQ_DTYPE_F32, 1, a.k, y.data(), a.n);
    t.gemv_ms = (now_ms() - t0) / a.reps;
    if (vk_ctx) t.host_cpu_us = (thread_cpu_ms() - c0) * 1e3 / a.reps;
    t0 = now_ms();
    for (int i = 0; i < a.reps; ++i) b.matmul(q, x.data(), GPTQ_DTYPE_F32, m, a.k, y.data(), a.n);
    t.gemm_ms = (now_ms() - t0) / a.reps;
    t.matmul_allocs = double(gptq::vk::device_memory_allocations() - allocs0) / (2 * a.reps);
    t.matmul_buffers = double(gptq::vk::buffers_created() - bufs0) / (2 * a.reps);
    if (!vk_ctx) return;
    vk_ctx->profiling = true;
    vk_ctx->stage_times.clear();
    vk_ctx->device_ms = 0.0;
    const int calls = std::max(a.reps, 20);
    t0 = now_ms();
    for (int i = 0; i < calls; ++i) b.matmul(q, x.data(), GPTQ_DTYPE_F32, 1, a.k, y.data(), a.n);
    const double wall = now_ms() - t0;
    if (vk_ctx->device_ms > 0.0) t.host_us = (wall - vk_ctx->device_ms) * 1e3 / calls;
    b.matmul(q, x.data(), GPTQ_DTYPE_F32, m, a.k, y.data(), a.n);
    for (const auto &s : vk_ctx->stage_times)
        std::printf("    %-22s %10.3f ms (kernel only, summed)\n", s.stage.c_str(), s.ms);
    vk_ctx->profiling = false;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// --compare: every small-m kernel on the same layer, calls interleaved (A B C A B C ...) so
// that load changes on a shared machine hit all of them alike; median wall and process CPU
// time per call, for m = 1 and m = --m.
void compare_kernels(gptq::vk::VulkanBackend &b, const Args &a, const gptq::QLayer &q,
                     const std::vector<float> &x) {
    using gptq::vk::GemvKernel;
    const std::pair<GemvKernel, const char *> all[] = {
        {GemvKernel::PerFeature, "per-feature"}, {GemvKernel::PerFeatureWide, "per-feature-wide"},
        {GemvKernel::Shuffle, "shuffle"},        {GemvKernel::ShuffleWide, "shuffle-wide"},
        {GemvKernel::Subgroup, "subgroup"},      {GemvKernel::Direct, "direct"},
        {GemvKernel::DirectWide, "direct-wide"}, {GemvKernel::Auto, "auto"}};
    std::vector<float> y(size_t(a.m * a.n));
    for (int64_t m : {int64_t(1), a.m}) {
        std::vector<std::vector<double>> wall(std::size(all)), cpu(std::size(all));
        for (int r = 0; r <= a.reps; ++r)
            for (size_t i = 0; i < std::size(all); ++i) {
                b.context().gemv = all[i].first;
                const double t0 = now_ms(), c0 = process_cpu_ms();
                b.matmul(q, x.data(), GPTQ_DTYPE_F32, m, a.k, y.data(), a.n);
                if (r == 0) continue;  // warm-up: pipelines, upload, Auto's measurement
                wall[i].push_back(now_ms() - t0);
                cpu[i].push_back(process_cpu_ms() - c0);
            }
        for (size_t i = 0; i < std::size(all); ++i)
            std::printf("m=%-4lld %-18s wall %9.3f ms (min %9.3f)  process CPU %9.3f ms\n",
                        (long long)m, all[i].second, median(wall[i]),
                        *std::min_element(wall[i].begin(), wall[i].end()), median(cpu[i]));
    }
    b.context().gemv = GemvKernel::Auto;
}

// --host: GEMV calls on one resident layer, unprofiled and profiled calls interleaved; per
// call the wall time, the CPU time of the calling thread and (profiled) the wall time minus
// the device's first-to-last timestamp.
void bench_host(gptq::vk::VulkanBackend &b, const Args &a, const gptq::QLayer &q,
                const std::vector<float> &x) {
    gptq::vk::Context &ctx = b.context();
    std::vector<float> y(size_t(a.n));
    for (bool replay : {false, true})  // warm: upload, kernel choice, pipelines, replays
        for (bool prof : {false, true}) {
            ctx.replay_matmul = replay;
            ctx.profiling = prof;
            for (int i = 0; i < 3; ++i)
                b.matmul(q, x.data(), GPTQ_DTYPE_F32, 1, a.k, y.data(), a.n);
        }
    struct Series {
        std::vector<double> wall, cpu, host, dev;
    } series[2];  // recorded anew, replayed
    const uint64_t allocs0 = gptq::vk::device_memory_allocations();
    for (int i = 0; i < a.reps; ++i)
        for (bool replay : {false, true}) {
            Series &s = series[replay];
            ctx.replay_matmul = replay;
            ctx.profiling = false;
            double t0 = now_ms(), c0 = thread_cpu_ms();
            b.matmul(q, x.data(), GPTQ_DTYPE_F32, 1, a.k, y.data(), a.n);
            s.wall.push_back((now_ms() - t0) * 1e3);
            s.cpu.push_back((thread_cpu_ms() - c0) * 1e3);
            ctx.profiling = true;
            const double d0 = ctx.device_ms;
            t0 = now_ms();
            b.matmul(q, x.data(), GPTQ_DTYPE_F32, 1, a.k, y.data(), a.n);
            const double w = (now_ms() - t0) * 1e3, d = (ctx.device_ms - d0) * 1e3;
            s.host.push_back(w - d);
            s.dev.push_back(d);
        }
    ctx.profiling = false;
    ctx.replay_matmul = true;
    std::printf("GEMV m=1 on a resident %lld x %lld layer, %d calls each, interleaved (medians):\n",
                (long long)a.n, (long long)a.k, a.reps);
    for (bool replay : {false, true}) {
        const Series &s = series[replay];
        // The timestamps themselves cost lavapipe tens of microseconds of wall time outside
        // the kernel, so the profiled call's wall - device overstates the host's share; the
        // unprofiled calls' median wall minus the profiled calls' median device time (the
        // two interleaved) is printed too.
        std::printf("  %-10s wall %7.1f us, device timestamps %7.1f us, host cost (wall - device) "
                    "%6.1f us profiled, %6.1f us unprofiled, CPU time of the calling thread "
                    "%5.1f us\n",
                    replay ? "replayed" : "recorded", median(s.wall), median(s.dev),
                    median(s.host), median(s.wall) - median(s.dev), median(s.cpu));
    }
    std::printf("  %llu vkAllocateMemory in these calls\n",
                (unsigned long long)(gptq::vk::device_memory_allocations() - allocs0));
    bench::print_host_floor(ctx.device, a.reps);
}

Timing run(gptq::Backend &b, const Args &a, const std::vector<float> &x,
           const std::vector<float> &w, const gptq::QuantOptions &opt,
           gptq::vk::Context *vk_ctx) {
    Timing t;
    if (a.matmul_only) {
        bench_matmul(b, a, random_layer(a.n, a.k, opt), x, vk_ctx, t);
        return t;
    }
    auto h = b.create_hessian(a.k);
    double t0 = now_ms();
    h->add(x.data(), GPTQ_DTYPE_F32, a.tokens, a.k);
    t.hessian_ms = now_ms() - t0;

    std::vector<float> wc = w;
    gptq::QuantResult r;
    if (vk_ctx) vk_ctx->profiling = true;
    const uint64_t allocs0 = gptq::vk::device_memory_allocations();
    const uint64_t bufs0 = gptq::vk::buffers_created();
    t0 = now_ms();
    b.quantize(opt, wc.data(), a.n, a.k, *h, &r);
    t.quantize_ms = now_ms() - t0;
    t.quantize_allocs = double(gptq::vk::device_memory_allocations() - allocs0);
    t.quantize_buffers = double(gptq::vk::buffers_created() - bufs0);
    if (vk_ctx) {
        std::printf("  device stages of quantize (timestamp queries):\n");
        for (const auto &s : vk_ctx->stage_times)
            std::printf("    %-22s %10.2f ms\n", s.stage.c_str(), s.ms);
        vk_ctx->profiling = false;
    }
    std::printf("  loss %.6g, damping %.3g, dead columns %lld\n", r.loss, r.damp_used,
                (long long)r.dead_columns);
    bench_matmul(b, a, to_qlayer(r, opt), x, vk_ctx, t);
    return t;
}

void print(const char *name, const Timing &t, const Args &a, bool vulkan) {
    const double flops = 2.0 * double(a.m) * double(a.n) * double(a.k);
    std::printf("%-8s hessian %9.1f ms | quantize %9.1f ms | matmul_q4 GEMV m=1 %8.3f ms | "
                "GEMM m=%lld %8.2f ms (%.2f GFLOP/s)\n",
                name, t.hessian_ms, t.quantize_ms, t.gemv_ms, (long long)a.m, t.gemm_ms,
                flops / (t.gemm_ms * 1e6));
    if (!vulkan) return;
    if (t.host_us >= 0)
        std::printf("%-8s host cost per GEMV call: %.1f us wall - device timestamps, %.1f us "
                    "CPU time of the calling thread (--host: interleaved medians)\n",
                    name, t.host_us, t.host_cpu_us);
    std::printf("%-8s device allocations: quantize %.0f vkAllocateMemory / %.0f buffers; "
                "matmul %.2f / %.2f per call\n",
                name, t.quantize_allocs, t.quantize_buffers, t.matmul_allocs, t.matmul_buffers);
}

} // namespace

// --probe: exit 0 when usable device 0 is a real GPU, else 77.
int probe() {
    const int n = gptq::vk::count_usable_devices();
    for (int i = 0; i < n; ++i)
        std::printf("vulkan device %d: %s\n", i,
                    gptq::vk::usable_device_is_hardware(i) ? "GPU" : "CPU implementation");
    if (n == 0) std::printf("no usable Vulkan device\n");
    return n > 0 && gptq::vk::usable_device_is_hardware(0) ? 0 : 77;
}

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "--probe") == 0) return probe();
    Args a = parse(argc, argv);
    if (!a.matmul_only) a.m = std::min(a.m, a.tokens);  // GEMM rows come from the calibration set
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress is visible while it runs
    std::mt19937_64 gen(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    if (a.matmul_only) a.tokens = std::max(a.tokens, a.m);
    std::vector<float> x(size_t(a.tokens * a.k)), w(size_t(a.matmul_only ? 0 : a.n * a.k));
    for (int64_t t = 0; t < a.tokens; ++t)
        for (int64_t c = 0; c < a.k; ++c) x[size_t(t * a.k + c)] = nd(gen) * (1.0f + float(c % 13));
    for (auto &v : w) v = 0.02f * nd(gen);
    gptq::QuantOptions opt;  // 4 bits, g128, act-order: the common checkpoint setting
    opt.desc_act = true;
    opt.group_size = a.group;

    std::printf("layer %lld x %lld, %lld calibration tokens, 4-bit g%d act-order\n",
                (long long)a.n, (long long)a.k, (long long)a.tokens, a.group);
    try {
        gptq_ctx_params p{};
        p.struct_size = sizeof p;
        p.backend = GPTQ_BACKEND_VULKAN;
        gptq::vk::VulkanBackend vk(p);
        vk.context().gemv = a.gemv;
        if (a.compare) {
            compare_kernels(vk, a, random_layer(a.n, a.k, opt), x);
            return 0;
        }
        if (a.host) {
            bench_host(vk, a, random_layer(a.n, a.k, opt), x);
            return 0;
        }
        const auto &dev = vk.context().device;
        std::printf("vulkan: %s (subgroup %u, storage-buffer range %llu, shared memory %u, "
                    "allocation count %u)\n",
                    vk.device_name().c_str(), dev.subgroup_size(),
                    (unsigned long long)dev.max_storage_range(),
                    dev.props().limits.maxComputeSharedMemorySize,
                    dev.props().limits.maxMemoryAllocationCount);
        const Timing tv = run(vk, a, x, w, opt, &vk.context());
        Timing tc;
        if (a.cpu) {
            auto cpu = gptq::make_cpu_backend(a.cpu_threads);
            std::printf("cpu: %s\n", cpu->device_name().c_str());
            tc = run(*cpu, a, x, w, opt, nullptr);
        }
        std::printf("\n");
        print("vulkan", tv, a, true);
        if (a.cpu) print("cpu", tc, a, false);
    } catch (const gptq::Error &e) {
        std::fprintf(stderr, "bench_vulkan: %s\n", e.what());
        return e.status() == GPTQ_ERR_BACKEND_UNAVAILABLE ? 77 : 1;
    }
    return 0;
}
