// Where gptq_quantize_layer's time goes on the CPU backend: the GPTQ driver runs on the CPU
// session as the library runs it, each session primitive timed (a forwarding session adds
// the clock reads), plus the result's packing and the report's relative output error.
// White-box: calls the internal session directly.
//
//   bench_quantize_phases [--threads T] [--reps R] [--tokens T] [--no-report] [N|NxK]
//
// (default 4096; --no-report skips the report's output error, e.g. to profile GPTQ alone)
//
// Prints the median over R runs (default 3) of each phase; layer 4-bit g128 act-order, the
// Hessian accumulated from the same synthetic activations as bench_quantize.
#include "backends/cpu/cpu_hessian.h"
#include "backends/cpu/cpu_output_error.h"
#include "backends/cpu/gptq_loop.h"
#include "backends/cpu/thread_pool.h"
#include "core/gptq_driver.h"
#include "core/layer_build.h"
#include "core/options.h"

extern "C" {
#include "bench_util.h"
}

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

enum Phase { kDiag, kParams, kPlan, kPermute, kFactor, kBlock, kTrailing, kFetch, kPhases };
const char *const kPhaseNames[kPhases] = {"hessian_diagonal", "group_params", "set_plan",
                                          "permute",          "factor_inverse", "quantize_block",
                                          "trailing_update",  "fetch_result"};

// Forwards every primitive to the CPU session and adds its wall time to t[phase].
class TimedSession final : public gptq::GptqSession {
public:
    TimedSession(std::unique_ptr<gptq::GptqSession> s, double *t) : s_(std::move(s)), t_(t) {}

private:
    template <class F>
    auto timed(Phase p, F &&f) {
        struct Clock {
            double *slot, t0 = bench_now();
            ~Clock() { *slot += bench_now() - t0; }
        } clock{t_ + p};
        return f();
    }

public:
    std::vector<float> hessian_diagonal() override {
        return timed(kDiag, [&] { return s_->hessian_diagonal(); });
    }
    void group_params(gptq::ParamSource src, int64_t g0, int64_t count, int64_t g) override {
        timed(kParams, [&] { s_->group_params(src, g0, count, g); });
    }
    void set_plan(const gptq::ColumnPlan &p) override {
        timed(kPlan, [&] { s_->set_plan(p); });
    }
    void permute() override {
        timed(kPermute, [&] { s_->permute(); });
    }
    bool factor_inverse(float damp) override {
        return timed(kFactor, [&] { return s_->factor_inverse(damp); });
    }
    void quantize_block(int64_t i1, int64_t i2) override {
        timed(kBlock, [&] { s_->quantize_block(i1, i2); });
    }
    void trailing_update(int64_t i1, int64_t i2) override {
        timed(kTrailing, [&] { s_->trailing_update(i1, i2); });
    }
    void fetch_result(gptq::QuantResult *out) override {
        timed(kFetch, [&] { s_->fetch_result(out); });
    }

private:
    std::unique_ptr<gptq::GptqSession> s_;
    double *t_;
};

// FNV-1a over the bytes of the packed codes, scales and zeros: two builds that print the
// same value produced the same layer.
uint64_t checksum(const gptq::QLayer &q) {
    uint64_t h = 1469598103934665603ull;
    auto add = [&](const void *p, size_t bytes) {
        for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const uint8_t *>(p)[i]) * 1099511628211ull;
    };
    add(q.qweight.data(), q.qweight.size() * sizeof(int32_t));
    add(q.scales.data(), q.scales.size() * sizeof(float));
    add(q.zeros.data(), q.zeros.size() * sizeof(int32_t));
    return h;
}

} // namespace

int main(int argc, char **argv) {
    int64_t n = 4096, k = 4096, tokens = 4096;
    int threads = 2, reps = 3;
    bool report = true;
    for (int i = 1; i < argc; ++i) {
        char *end = nullptr;
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = std::atoi(argv[++i]);
        } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = std::atoi(argv[++i]);
        } else if (!std::strcmp(argv[i], "--no-report")) {
            report = false;
        } else if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) {
            tokens = std::atoll(argv[++i]);
        } else if ((n = std::strtoll(argv[i], &end, 10)) > 0) {
            k = n;
            if (*end == 'x') k = std::strtoll(end + 1, &end, 10);
            if (*end != '\0' || k <= 0) n = 0;
        }
        if (n <= 0 || threads <= 0 || reps <= 0 || tokens <= 0) {
            std::fprintf(stderr,
                         "usage: %s [--threads T] [--reps R] [--tokens T] [--no-report] [N|NxK]\n",
                         argv[0]);
            return 2;
        }
    }
    gptq::cpu::ThreadPool pool(threads);
    uint64_t seed = 1234;
    std::vector<float> w0(size_t(n * k)), x(size_t(256 * k));
    bench_randn(w0.data(), w0.size(), 0.02f, &seed);
    gptq::cpu::CpuHessian h(k, &pool);
    for (int64_t done = 0; done < tokens; done += 256) {
        const int64_t rows = std::min<int64_t>(256, tokens - done);
        bench_activations(x.data(), rows, k, &seed);
        h.add(x.data(), GPTQ_DTYPE_F32, rows, k);
    }
    gptq::QuantOptions opt;
    opt.bits = 4;
    opt.group_size = 128;
    opt.desc_act = true;

    std::vector<std::vector<double>> t(kPhases + 3, std::vector<double>(size_t(reps)));
    for (int r = 0; r < reps; ++r) {
        double phase[kPhases] = {};
        std::vector<float> w = w0;
        const double t0 = bench_now();
        TimedSession s(gptq::cpu::start_cpu_gptq(opt, w.data(), n, k, h.view(), {}, &pool),
                       phase);
        gptq::QuantResult res;
        gptq::run_gptq(s, opt, n, k, &res);
        const double t1 = bench_now();
        const gptq::QLayer q = gptq::qlayer_from_result(opt, std::move(res));
        const double t2 = bench_now();
        const double err =
            report ? gptq::cpu::relative_output_error(q, w0.data(), h, &pool) : -1.0;
        const double t3 = bench_now();
        for (int p = 0; p < kPhases; ++p) t[size_t(p)][size_t(r)] = phase[p];
        t[kPhases][size_t(r)] = t1 - t0;
        t[kPhases + 1][size_t(r)] = t2 - t1;
        t[kPhases + 2][size_t(r)] = t3 - t2;
        if (r == 0)
            std::printf("relative output error %.6f, result checksum %016llx (equal checksums: "
                        "bit-identical layers)\n",
                        err, (unsigned long long)checksum(q));
    }
    std::printf("%lld x %lld, %lld tokens, %d threads, medians of %d runs:\n", (long long)n,
                (long long)k, (long long)tokens, threads, reps);
    const char *const extra[3] = {"GPTQ total (driver)", "pack (qlayer_from_result)",
                                  "report (output error)"};
    for (int p = 0; p < kPhases + 3; ++p)
        std::printf("  %-28s %8.1f ms\n", p < kPhases ? kPhaseNames[p] : extra[p - kPhases],
                    bench_median(t[size_t(p)].data(), reps) * 1e3);
    return 0;
}
