// The allocation-failure sweep harness of test_alloc_failures: checks that work across C++
// frames, owning handles, the Case interface one API operation implements, and sweep(),
// which fails the N-th allocation of the case's call for every N.
//
// Each trial runs the call on a fresh thread in a fresh context: the CPU GEMM keeps
// thread_local scratch that grows once, so reusing threads would hide those allocations
// from every trial but the first. With one thread per context the count is deterministic
// and every failure must give OOM; with several, which worker allocates varies, and a
// worker that cannot be started leaves a smaller pool (by design), so there a call may also
// succeed, and must then give the reference result.
#pragma once

#include "alloc_countdown.h"

#include <gptq/gptq.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace alloc_sweep {

// cmocka's assertions longjmp, which must not cross C++ frames with destructors: checks
// throw this instead, and run_checked() turns it into a cmocka failure at the top.
struct CheckFailed {};
extern char g_failure[2048];
extern const char *g_case;  // the case being swept, for messages
extern long g_fail_at;      // the failing allocation of the current trial (0: none)
extern bool g_sticky;       // every allocation from g_fail_at on fails

[[noreturn]] __attribute__((format(printf, 3, 4))) void expect_failed(const char *file, int line,
                                                                     const char *fmt, ...);
// Runs f; a failed check becomes a cmocka failure carrying its message.
void report_failure();

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) ::alloc_sweep::expect_failed(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)

// expr must return GPTQ_OK; the message comes from ctx's slot.
#define EXPECT_OK(ctx, expr)                                                               \
    do {                                                                                   \
        const gptq_status st_ = (expr);                                                    \
        EXPECT(st_ == GPTQ_OK, "%s returned %s: %s", #expr, gptq_status_string(st_),      \
               gptq_last_error(ctx));                                                      \
    } while (0)

template <class F>
void run_checked(F &&f) {
    bool ok = true;
    try {
        f();
    } catch (const CheckFailed &) {
        ok = false;
    }
    if (!ok) report_failure();
}

template <class T>
bool same_bits(const std::vector<T> &a, const std::vector<T> &b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// A stand-in for "not written yet", distinguishable from both NULL and a real handle.
template <class T>
T *sentinel() {
    static char byte;
    return reinterpret_cast<T *>(&byte);
}

// ------------------------------------------------------------------ handles and inputs

struct CtxDel {
    void operator()(gptq_ctx *c) const { gptq_ctx_destroy(c); }
};
struct HessianDel {
    void operator()(gptq_hessian *h) const { gptq_hessian_destroy(h); }
};
struct QLayerDel {
    void operator()(gptq_qlayer *q) const { gptq_qlayer_destroy(q); }
};
using Ctx = std::unique_ptr<gptq_ctx, CtxDel>;
using Hessian = std::unique_ptr<gptq_hessian, HessianDel>;
using QLayer = std::unique_ptr<gptq_qlayer, QLayerDel>;

// Everything a layer exports, for bit-exact comparisons.
struct LayerData {
    gptq_qlayer_info info{};
    std::vector<int32_t> qweight, qzeros, g_idx, perm;
    std::vector<uint16_t> scales16;
    std::vector<float> scales;
};

LayerData read_layer(const gptq_qlayer *q, const gptq_ctx *ctx);
bool same_layer(const LayerData &a, const LayerData &b);

Ctx make_ctx(int threads);  // CPU backend context with `threads` threads
void expect_no_error(const gptq_ctx *ctx, const char *after);

// One API operation under test. setup() builds fresh objects for one trial (unarmed);
// call() is the only code that runs armed, so it must contain nothing but the API call.
class Case {
public:
    explicit Case(int threads) : threads_(threads) {}
    virtual ~Case() = default;
    int threads() const { return threads_; }
    virtual void setup() { ctx_ = make_ctx(threads_); }
    virtual gptq_status call() = 0;
    // Where the call's message lands.
    virtual const gptq_ctx *slot() const { return ctx_.get(); }
    // After GPTQ_ERR_OUT_OF_MEMORY: out parameters NULL, inputs unchanged and usable.
    virtual void check_failed() = 0;
    // After GPTQ_OK: the result equals the unarmed reference.
    virtual void check_succeeded() = 0;
    virtual void teardown() { ctx_.reset(); }

protected:
    int threads_;
    Ctx ctx_;
};

struct Tally {
    long allocations = 0, points = 0, oom = 0, oom_on_worker = 0, recovered = 0, unreached = 0;
};

// Dry run(s) to count the call's allocations, then one trial failing each of them in turn;
// prints a summary line and returns the tally.
Tally sweep(const char *name, Case &c);

} // namespace alloc_sweep
