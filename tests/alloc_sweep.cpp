#include "alloc_sweep.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <thread>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {  // cmocka.h declares its functions without C linkage guards
#include <cmocka.h>
}

namespace alloc_sweep {

char g_failure[2048];
const char *g_case = "";
long g_fail_at = 0;
bool g_sticky = false;

[[noreturn]] __attribute__((format(printf, 3, 4))) void expect_failed(const char *file, int line,
                                                                     const char *fmt, ...) {
    int n = std::snprintf(g_failure, sizeof g_failure, "%s:%d: [%s, failing allocation %ld] ",
                          file, line, g_case, g_fail_at);
    if (n < 0 || size_t(n) >= sizeof g_failure) n = 0;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(g_failure + n, sizeof g_failure - size_t(n), fmt, ap);
    va_end(ap);
    throw CheckFailed{};
}

void report_failure() { fail_msg("%s", g_failure); }

Ctx make_ctx(int threads) {
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    p.backend = GPTQ_BACKEND_CPU;
    p.n_threads = threads;
    gptq_ctx *c = nullptr;
    EXPECT_OK(nullptr, gptq_ctx_create(&p, &c));
    EXPECT(gptq_last_error(nullptr)[0] == '\0', "a successful gptq_ctx_create left \"%s\"",
           gptq_last_error(nullptr));
    return Ctx(c);
}

void expect_no_error(const gptq_ctx *ctx, const char *after) {
    EXPECT(gptq_last_error(ctx)[0] == '\0', "a successful %s left gptq_last_error = \"%s\"",
           after, gptq_last_error(ctx));
}

LayerData read_layer(const gptq_qlayer *q, const gptq_ctx *ctx) {
    LayerData d;
    d.info.struct_size = sizeof d.info;
    EXPECT_OK(ctx, gptq_qlayer_get_info(q, &d.info));
    const gptq_qlayer_info &i = d.info;
    d.qweight.resize(size_t(i.qweight_rows * i.qweight_cols));
    d.qzeros.resize(size_t(i.qzeros_rows * i.qzeros_cols));
    d.scales16.resize(size_t(i.scales_rows * i.scales_cols));
    d.scales.resize(d.scales16.size());
    d.g_idx.resize(size_t(i.g_idx_len));
    d.perm.resize(size_t(i.k));
    EXPECT_OK(ctx, gptq_qlayer_get_qweight(q, d.qweight.data(), d.qweight.size()));
    EXPECT_OK(ctx, gptq_qlayer_get_qzeros(q, GPTQ_ZEROS_V2, d.qzeros.data(), d.qzeros.size()));
    EXPECT_OK(ctx, gptq_qlayer_get_scales_f16(q, d.scales16.data(), d.scales16.size()));
    EXPECT_OK(ctx, gptq_qlayer_get_scales(q, d.scales.data(), d.scales.size()));
    EXPECT_OK(ctx, gptq_qlayer_get_g_idx(q, d.g_idx.data(), d.g_idx.size()));
    EXPECT_OK(ctx, gptq_qlayer_get_perm(q, d.perm.data(), d.perm.size()));
    return d;
}

bool same_layer(const LayerData &a, const LayerData &b) {
    return a.info.n == b.info.n && a.info.k == b.info.k && a.info.bits == b.info.bits &&
           a.info.group_size == b.info.group_size && a.info.n_groups == b.info.n_groups &&
           a.info.sym == b.info.sym && a.info.desc_act == b.info.desc_act &&
           a.info.static_groups == b.info.static_groups && same_bits(a.qweight, b.qweight) &&
           same_bits(a.qzeros, b.qzeros) && same_bits(a.scales16, b.scales16) &&
           same_bits(a.scales, b.scales) && same_bits(a.g_idx, b.g_idx) &&
           same_bits(a.perm, b.perm);
}

namespace {

struct Outcome {
    gptq_status status = GPTQ_OK;
    alloc_countdown::Stats stats;
    std::string message;  // gptq_last_error of the call's slot, read on the calling thread
};

Outcome run_armed(long fail_at, Case &c) {
    Outcome o;
    std::thread t([&] {
        alloc_countdown::arm(fail_at, g_sticky);
        o.status = c.call();
        o.stats = alloc_countdown::disarm();
        o.message = gptq_last_error(c.slot());
    });
    t.join();
    return o;
}

// 1..count, or an even subsample of ~300 that keeps the first and last 20.
std::vector<long> failure_points(long count) {
    constexpr long kMax = 300, kEdge = 20;
    std::vector<long> pts;
    if (count <= kMax) {
        for (long n = 1; n <= count; ++n) pts.push_back(n);
        return pts;
    }
    for (long n = 1; n <= kEdge; ++n) pts.push_back(n);
    const long inner = kMax - 2 * kEdge, lo = kEdge + 1, hi = count - kEdge;
    for (long i = 0; i < inner; ++i) pts.push_back(lo + (hi - lo) * i / inner);
    for (long n = count - kEdge + 1; n <= count; ++n) pts.push_back(n);
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    return pts;
}

} // namespace

Tally sweep(const char *name, Case &c) {
    g_case = name;
    g_fail_at = 0;
    const bool strict = c.threads() == 1;
    Tally t;
    // Two dry runs when single-threaded: the sweep covers every allocation only if the
    // count is reproducible.
    long count = -1;
    for (int rep = 0; rep < (strict ? 2 : 1); ++rep) {
        c.setup();
        const Outcome dry = run_armed(0, c);
        EXPECT(dry.status == GPTQ_OK, "dry run returned %s: %s",
               gptq_status_string(dry.status), dry.message.c_str());
        EXPECT(dry.message.empty(), "a successful call left gptq_last_error = \"%s\"",
               dry.message.c_str());
        c.check_succeeded();
        c.teardown();
        EXPECT(count < 0 || count == dry.stats.allocations,
               "dry runs made %ld and %ld allocations", count, dry.stats.allocations);
        count = dry.stats.allocations;
    }
    t.allocations = count;
    for (const long n : failure_points(count)) {
        g_fail_at = n;
        ++t.points;
        c.setup();
        const Outcome o = run_armed(n, c);
        if (o.stats.failed == 0) {
            // Fewer allocations than the dry run: only a varying thread split can do that.
            EXPECT(!strict, "only %ld allocations this time", o.stats.allocations);
            EXPECT(o.status == GPTQ_OK, "returned %s: %s", gptq_status_string(o.status),
                   o.message.c_str());
            c.check_succeeded();
            ++t.unreached;
        } else if (o.status == GPTQ_ERR_OUT_OF_MEMORY) {
            EXPECT(!o.message.empty(), "GPTQ_ERR_OUT_OF_MEMORY with an empty gptq_last_error");
            c.check_failed();
            ++t.oom;
            if (o.stats.failed_off_thread) ++t.oom_on_worker;
        } else {
            // std::stable_sort's buffer is a nothrow allocation it can do without, and a pool
            // thread that cannot start leaves a smaller pool: both may end in success.
            EXPECT(o.status == GPTQ_OK && (o.stats.failed_nothrow || !strict),
                   "returned %s (\"%s\") instead of GPTQ_ERR_OUT_OF_MEMORY",
                   gptq_status_string(o.status), o.message.c_str());
            EXPECT(o.message.empty(), "a successful call left gptq_last_error = \"%s\"",
                   o.message.c_str());
            c.check_succeeded();
            ++t.recovered;
        }
        c.teardown();
    }
    g_fail_at = 0;
    print_message("%s%-34s %2d thread%s %5ld allocations, %3ld points: %3ld OOM (%ld on a "
                  "worker), %ld recovered, %ld not reached\n",
                  g_sticky ? "sticky " : "", name, c.threads(), c.threads() == 1 ? ": " : "s:",
                  t.allocations, t.points, t.oom, t.oom_on_worker, t.recovered, t.unreached);
    return t;
}

} // namespace alloc_sweep
