// Allocation-failure sweep through the public C API on the CPU backend (count the
// allocations of a call in a dry run, then fail the N-th one for every N).
//
// support/alloc_countdown.cpp replaces the global operator new of this program, which is
// also the one libgptq.so binds to. For every API operation below and every failure point N
// the test checks that
//   - the call returns GPTQ_ERR_OUT_OF_MEMORY with a non-empty gptq_last_error, also when
//     the failing allocation is on a worker thread (the pool rethrows on the caller);
//   - out parameters are NULL;
//   - the objects passed in are unchanged (a Hessian reads back bit for bit the same; or,
//     for an add that failed part-way, it refuses use until gptq_hessian_set) and
//     still usable: the call, repeated without failure, gives bit for bit the result of an
//     unarmed reference run, and clears gptq_last_error;
//   - nothing leaks (CI runs this under ASan, whose LeakSanitizer must stay silent).
//
// Usage: test_alloc_failures cpu [sticky]. With "sticky" every allocation from the N-th on
// fails (memory that stays exhausted), so the library's error path itself runs out of memory.
#include "alloc_cases_hessian.h"
#include "alloc_cases_layers.h"
#include "alloc_inputs.h"
#include "alloc_sweep.h"
#include "test_common.h"

#include <gptq/gptq.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {  // cmocka.h declares its functions without C linkage guards
#include <cmocka.h>
}

namespace {

using namespace alloc_sweep;

// ------------------------------------------------------------------ data

std::vector<uint16_t> to_f16(const std::vector<float> &v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = tc_f32_to_f16(v[i]);
    return h;
}

// Activations with per-channel scales (so act-order really permutes), Gaussian weights.
void make_inputs() {
    tc_rng r;
    tc_rng_seed(&r, 20261123);
    std::vector<float> chan(static_cast<size_t>(K));
    for (float &c : chan) c = float(0.2 + 2.0 * tc_rng_uniform(&r));
    auto acts = [&](int64_t rows) {
        std::vector<float> x(size_t(rows * K));
        for (size_t i = 0; i < x.size(); ++i) x[i] = float(tc_rng_normal(&r)) * chan[i % K];
        return x;
    };
    g.xa = acts(TA);
    g.xb = acts(TB);
    g.x = acts(MX);
    g.xb16 = to_f16(g.xb);
    g.x16 = to_f16(g.x);
    g.w.resize(size_t(N * K));
    for (float &v : g.w) v = float(0.02 * tc_rng_normal(&r));

    const Ctx ctx = make_ctx(1);
    {
        Hessian h = make_hessian(ctx.get());
        const gptq_matrix xa = f32_matrix(g.xa, TA, K), x = f32_matrix(g.x, MX, K);
        EXPECT_OK(ctx.get(), gptq_hessian_add(h.get(), &xa));
        g.hset = hessian_get(h.get(), ctx.get());
        EXPECT_OK(ctx.get(), gptq_hessian_add(h.get(), &x));
        g.hset2 = hessian_get(h.get(), ctx.get());
    }
    const Hessian h = calibrated_hessian(ctx.get());
    const gptq_quant_params p = params_act_order();
    const gptq_matrix w = f32_matrix(g.w, N, K);
    gptq_qlayer *q = nullptr;
    EXPECT_OK(ctx.get(), gptq_quantize_layer(ctx.get(), &p, &w, h.get(), &q, nullptr));
    const QLayer own(q);
    g_source = read_layer(q, ctx.get());
}

// ------------------------------------------------------------------ tests

constexpr int kThreads = 3;  // > 1: worker threads allocate, and fail, too

void test_ctx_create(void **) {
    run_checked([] {
        CtxCreate one(1), many(kThreads);
        const Tally t1 = sweep("gptq_ctx_create", one);
        EXPECT(t1.allocations > 0 && t1.oom == t1.points, "%ld of %ld failures gave OOM", t1.oom,
               t1.points);
        sweep("gptq_ctx_create", many);
    });
}

void test_hessian_create(void **) {
    run_checked([] {
        HessianCreate c(1);
        const Tally t = sweep("gptq_hessian_create", c);
        EXPECT(t.allocations > 0, "gptq_hessian_create made no allocation");
    });
}

void test_hessian_add_f32(void **) {
    run_checked([] {
        HessianAdd one(1, GPTQ_DTYPE_F32, false), many_amx(kThreads, GPTQ_DTYPE_F32, false);
        sweep("gptq_hessian_add F32", one);
        sweep("gptq_hessian_add F32", many_amx);
        // The fp32 kernel packs on the workers; the AMX one (where the CPU has it) packs into
        // one buffer on the calling thread, so the worker-side failures are sought with it off.
        const char *no_amx = std::getenv("GPTQ_CPU_NO_AMX");
        const std::string saved = no_amx ? no_amx : "";
        setenv("GPTQ_CPU_NO_AMX", "1", 1);
        HessianAdd many(kThreads, GPTQ_DTYPE_F32, false);
        // Whether a worker thread takes a chunk (and allocates in it) is up to the scheduler:
        // on a busy machine the calling thread may run them all. A few sweeps make a
        // worker-side failure all but certain to be exercised.
        Tally t;
        for (int attempt = 0; attempt < 8 && t.oom_on_worker == 0; ++attempt)
            t = sweep("gptq_hessian_add F32", many);
        if (no_amx)
            setenv("GPTQ_CPU_NO_AMX", saved.c_str(), 1);
        else
            unsetenv("GPTQ_CPU_NO_AMX");
        g_case = "gptq_hessian_add F32 (threads)";
        EXPECT(t.oom_on_worker > 0, "no failure on a worker thread was seen in 8 sweeps");
    });
}

void test_hessian_add_f16(void **) {
    run_checked([] {
        // Where the CPU has AMX, the batch is converted straight into the Hessian's pending
        // chunk, which the earlier add allocated: possibly no allocation at all.
        HessianAdd amx(1, GPTQ_DTYPE_F16, false);
        sweep("gptq_hessian_add F16", amx);
        // The fp32 kernel's path converts through a buffer of its own.
        const char *no_amx = std::getenv("GPTQ_CPU_NO_AMX");
        const std::string saved = no_amx ? no_amx : "";
        setenv("GPTQ_CPU_NO_AMX", "1", 1);
        HessianAdd c(1, GPTQ_DTYPE_F16, false);
        const Tally t = sweep("gptq_hessian_add F16 (fp32 kernel)", c);
        if (no_amx)
            setenv("GPTQ_CPU_NO_AMX", saved.c_str(), 1);
        else
            unsetenv("GPTQ_CPU_NO_AMX");
        g_case = "gptq_hessian_add F16 (fp32 kernel)";
        EXPECT(t.allocations > 0, "an F16 batch is converted in a buffer: expected allocations");
    });
}

void test_hessian_add_after_set(void **) {
    run_checked([] {
        HessianAdd f32(1, GPTQ_DTYPE_F32, true), f16(1, GPTQ_DTYPE_F16, true);
        sweep("gptq_hessian_add F32 after set", f32);
        sweep("gptq_hessian_add F16 after set", f16);
    });
}

void test_hessian_set(void **) {
    run_checked([] {
        HessianSet c(1);
        sweep("gptq_hessian_set", c);
    });
}

void test_quantize_layer(void **) {
    run_checked([] {
        QuantizeLayer act(1, params_act_order()), stat(1, params_static_mse()),
            many(kThreads, params_act_order());
        sweep("gptq_quantize_layer act-order", act);
        sweep("gptq_quantize_layer static+mse", stat);
        sweep("gptq_quantize_layer act-order", many);
    });
}

void test_quantize_rtn(void **) {
    run_checked([] {
        QuantizeRtn c(1);
        sweep("gptq_quantize_rtn", c);
    });
}

void test_qlayer_from_packed(void **) {
    run_checked([] {
        FromPacked c(1);
        sweep("gptq_qlayer_from_packed", c);
    });
}

void test_qlayer_reads(void **) {
    run_checked([] {
        GetQzeros z(1);
        Dequantize d(1);
        sweep("gptq_qlayer_get_qzeros v1", z);
        sweep("gptq_qlayer_dequantize", d);
    });
}

void test_matmul(void **) {
    run_checked([] {
        MatmulQ4 m1(1, 1, GPTQ_DTYPE_F32), m64(1, MX, GPTQ_DTYPE_F32),
            m64h(1, MX, GPTQ_DTYPE_F16), m1t(kThreads, 1, GPTQ_DTYPE_F32),
            m64t(kThreads, MX, GPTQ_DTYPE_F32);
        sweep("gptq_matmul_q4 M=1", m1);
        sweep("gptq_matmul_q4 M=64", m64);
        sweep("gptq_matmul_q4 M=64 F16", m64h);
        sweep("gptq_matmul_q4 M=1", m1t);
        sweep("gptq_matmul_q4 M=64", m64t);
    });
}

void test_dense(void **) {
    run_checked([] {
        DLayerCreate c1(1), ct(kThreads);
        sweep("gptq_dlayer_create", c1);
        sweep("gptq_dlayer_create", ct);
        MatmulDense m1(1, 1, GPTQ_DTYPE_F32), m64h(1, MX, GPTQ_DTYPE_F16),
            m64t(kThreads, MX, GPTQ_DTYPE_F32);
        sweep("gptq_matmul_dense M=1", m1);
        sweep("gptq_matmul_dense M=64 F16", m64h);
        sweep("gptq_matmul_dense M=64", m64t);
    });
}

// The library clears the message on success: a stale one would be blamed on a later call.
void test_success_clears_last_error(void **) {
    run_checked([] {
        g_case = "last error";
        gptq_ctx_params bad;
        gptq_ctx_params_init(&bad);
        bad.struct_size = 1;
        gptq_ctx *none = sentinel<gptq_ctx>();
        EXPECT(gptq_ctx_create(&bad, &none) == GPTQ_ERR_INVALID_ARGUMENT && !none,
               "bad struct_size accepted");
        EXPECT(gptq_last_error(nullptr)[0] != '\0', "no message for a bad struct_size");
        const Ctx ctx = make_ctx(1);  // checks the thread's slot is empty again
        gptq_ctx *c = ctx.get();

        gptq_hessian *hp = nullptr;
        EXPECT(gptq_hessian_create(c, 0, &hp) == GPTQ_ERR_SHAPE, "k = 0 accepted");
        EXPECT(gptq_last_error(c)[0] != '\0', "no message for k = 0");
        const Hessian h = make_hessian(c);
        expect_no_error(c, "gptq_hessian_create");

        std::vector<float> nan_x(g.xa);
        nan_x[7] = NAN;
        const gptq_matrix xn = f32_matrix(nan_x, TA, K), xa = f32_matrix(g.xa, TA, K);
        EXPECT(gptq_hessian_add(h.get(), &xn) == GPTQ_ERR_NON_FINITE, "NaN accepted");
        EXPECT(gptq_last_error(c)[0] != '\0', "no message for NaN");
        EXPECT_OK(c, gptq_hessian_add(h.get(), &xa));
        expect_no_error(c, "gptq_hessian_add");

        gptq_quant_params p = params_act_order();
        p.bits = 5;
        const gptq_matrix w = f32_matrix(g.w, N, K);
        gptq_qlayer *qp = nullptr;
        EXPECT(gptq_quantize_layer(c, &p, &w, h.get(), &qp, nullptr) == GPTQ_ERR_UNSUPPORTED,
               "bits = 5 accepted");
        EXPECT(gptq_last_error(c)[0] != '\0', "no message for bits = 5");
        p.bits = 4;
        EXPECT_OK(c, gptq_quantize_layer(c, &p, &w, h.get(), &qp, nullptr));
        const QLayer q(qp);
        expect_no_error(c, "gptq_quantize_layer");

        std::vector<int32_t> z(g_source.qzeros.size());
        EXPECT(gptq_qlayer_get_qzeros(q.get(), (gptq_zeros_format)7, z.data(), z.size()) ==
                   GPTQ_ERR_INVALID_ARGUMENT,
               "zeros format 7 accepted");
        EXPECT(gptq_last_error(c)[0] != '\0', "no message for zeros format 7");
        EXPECT_OK(c, gptq_qlayer_get_qzeros(q.get(), GPTQ_ZEROS_V1, z.data(), z.size()));
        expect_no_error(c, "gptq_qlayer_get_qzeros");

        std::vector<float> y(size_t(MX * N));
        const gptq_matrix x = f32_matrix(g.x, MX, K), short_x = f32_matrix(g.x, MX, K - 1);
        EXPECT(gptq_matmul_q4(c, q.get(), &short_x, y.data(), 0) == GPTQ_ERR_SHAPE,
               "K - 1 columns accepted");
        EXPECT(gptq_last_error(c)[0] != '\0', "no message for a short x");
        EXPECT_OK(c, gptq_matmul_q4(c, q.get(), &x, y.data(), 0));
        expect_no_error(c, "gptq_matmul_q4");
    });
}

int setup_group(void **) {
    g_case = "inputs";
    try {
        make_inputs();
    } catch (const CheckFailed &) {
        print_error("%s\n", g_failure);
        return -1;
    }
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    tc_init(argc, argv);
    g_sticky = argc > 2 && std::strcmp(argv[2], "sticky") == 0;
    if (tc_backend != GPTQ_BACKEND_CPU) {
        std::fprintf(stderr, "the allocation sweep drives the CPU backend only: skipping\n");
        return TC_EXIT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_create),
        cmocka_unit_test(test_hessian_create),
        cmocka_unit_test(test_hessian_add_f32),
        cmocka_unit_test(test_hessian_add_f16),
        cmocka_unit_test(test_hessian_add_after_set),
        cmocka_unit_test(test_hessian_set),
        cmocka_unit_test(test_quantize_layer),
        cmocka_unit_test(test_quantize_rtn),
        cmocka_unit_test(test_qlayer_from_packed),
        cmocka_unit_test(test_qlayer_reads),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_success_clears_last_error),
    };
    return cmocka_run_group_tests(tests, setup_group, nullptr);
}
