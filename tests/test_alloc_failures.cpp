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
#include "alloc_sweep.h"
#include "test_common.h"

#include <gptq/gptq.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
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

// Shapes chosen to reach the multi-block paths: K = 256 gives two 128-row blocks of H in the
// CPU Hessian update; TB = 300 tokens makes F16 batches convert in two chunks; N = 80 rows
// are two chunks of the report's output-error metric.
constexpr int64_t K = 256, N = 80, TA = 64, TB = 300, MX = 64;
// Token count given to gptq_hessian_set: not a power of two, so undoing its 2/n scale is not
// exact in fp32 and a half-done add would show.
constexpr int64_t kSetTokens = 100;
// Tokens already in the Hessian before the add under test: so few that the CPU GEMM runs
// that first add on the calling thread, and the workers' scratch is still to be allocated
// when the armed add starts.
constexpr int64_t kPriorTokens = 8;

struct Inputs {
    std::vector<float> xa, xb, w, x, hset, hset2;
    std::vector<uint16_t> xb16, x16;
} g;

gptq_matrix f32_matrix(const std::vector<float> &v, int64_t rows, int64_t cols) {
    return tc_matrix_f32(v.data(), rows, cols, 0);
}

gptq_matrix f16_matrix(const std::vector<uint16_t> &v, int64_t rows, int64_t cols) {
    gptq_matrix m;
    m.data = v.data();
    m.dtype = GPTQ_DTYPE_F16;
    m.rows = rows;
    m.cols = cols;
    m.row_stride = 0;
    return m;
}


Hessian make_hessian(gptq_ctx *ctx) {
    gptq_hessian *h = nullptr;
    EXPECT_OK(ctx, gptq_hessian_create(ctx, K, &h));
    return Hessian(h);
}

std::vector<float> hessian_get(gptq_hessian *h, gptq_ctx *ctx) {
    std::vector<float> out(size_t(K * K));
    EXPECT_OK(ctx, gptq_hessian_get(h, out.data(), out.size()));
    return out;
}

// Adds xa then xb: the Hessian the quantization cases use.
Hessian calibrated_hessian(gptq_ctx *ctx) {
    Hessian h = make_hessian(ctx);
    const gptq_matrix xa = f32_matrix(g.xa, TA, K), xb = f32_matrix(g.xb, TB, K);
    EXPECT_OK(ctx, gptq_hessian_add(h.get(), &xa));
    EXPECT_OK(ctx, gptq_hessian_add(h.get(), &xb));
    return h;
}



// ------------------------------------------------------------------ cases: context, Hessian

class CtxCreate final : public Case {
public:
    using Case::Case;
    void setup() override { out_ = sentinel<gptq_ctx>(); }
    gptq_status call() override {
        gptq_ctx_params p;
        gptq_ctx_params_init(&p);
        p.backend = GPTQ_BACKEND_CPU;
        p.n_threads = threads_;
        return gptq_ctx_create(&p, &out_);
    }
    const gptq_ctx *slot() const override { return nullptr; }
    void check_failed() override {
        EXPECT(out_ == nullptr, "out_ctx was not set to NULL");
        make_ctx(threads_);  // the library is still usable, and success clears the message
    }
    void check_succeeded() override {
        EXPECT(out_ && out_ != sentinel<gptq_ctx>(), "no context");
        const Ctx own(out_);
        out_ = nullptr;
        const std::string name = gptq_ctx_device_name(own.get());
        if (threads_ == 1)
            EXPECT(name == "CPU (1 thread)", "device name \"%s\"", name.c_str());
        else  // fewer threads if one could not be started
            EXPECT(name.rfind("CPU (", 0) == 0, "device name \"%s\"", name.c_str());
    }
    void teardown() override {
        if (out_ != sentinel<gptq_ctx>()) gptq_ctx_destroy(out_);
        out_ = nullptr;
    }

private:
    gptq_ctx *out_ = nullptr;
};

class HessianCreate final : public Case {
public:
    using Case::Case;
    void setup() override {
        Case::setup();
        out_ = sentinel<gptq_hessian>();
    }
    gptq_status call() override { return gptq_hessian_create(ctx_.get(), K, &out_); }
    void check_failed() override {
        EXPECT(out_ == nullptr, "out was not set to NULL");
        const Hessian h = make_hessian(ctx_.get());
        expect_no_error(ctx_.get(), "gptq_hessian_create");
        EXPECT(gptq_hessian_dim(h.get()) == K, "dim %lld", (long long)gptq_hessian_dim(h.get()));
    }
    void check_succeeded() override {
        EXPECT(out_ && out_ != sentinel<gptq_hessian>(), "no Hessian");
        const Hessian h(out_);
        out_ = nullptr;
        EXPECT(gptq_hessian_dim(h.get()) == K && gptq_hessian_tokens(h.get()) == 0,
               "dim %lld, tokens %lld", (long long)gptq_hessian_dim(h.get()),
               (long long)gptq_hessian_tokens(h.get()));
    }
    void teardown() override {
        if (out_ != sentinel<gptq_hessian>()) gptq_hessian_destroy(out_);
        out_ = nullptr;
        Case::teardown();
    }

private:
    gptq_hessian *out_ = nullptr;
};

// gptq_hessian_add of xb (F32 or F16) onto a Hessian that already holds xa, or that was
// given by gptq_hessian_set: a failed add must leave it exactly as it was.
class HessianAdd final : public Case {
public:
    HessianAdd(int threads, gptq_dtype dtype, bool after_set)
        : Case(threads), after_set_(after_set),
          x_(dtype == GPTQ_DTYPE_F32 ? f32_matrix(g.xb, TB, K) : f16_matrix(g.xb16, TB, K)) {
        const Ctx ctx = make_ctx(threads);
        const Hessian h = prepared(ctx.get());
        before_ = hessian_get(h.get(), ctx.get());
        before_tokens_ = gptq_hessian_tokens(h.get());
        EXPECT_OK(ctx.get(), gptq_hessian_add(h.get(), &x_));
        after_ = hessian_get(h.get(), ctx.get());
        after_tokens_ = gptq_hessian_tokens(h.get());
    }
    void setup() override {
        Case::setup();
        h_ = prepared(ctx_.get());
    }
    gptq_status call() override { return gptq_hessian_add(h_.get(), &x_); }
    void check_failed() override {
        // Either the add failed before summing anything (the Hessian reads back as before
        // and the add can be repeated), or it failed part-way: then the Hessian must refuse
        // every use until gptq_hessian_set makes it whole again (gptq.h).
        std::vector<float> got(size_t(K) * size_t(K));
        const gptq_status st = gptq_hessian_get(h_.get(), got.data(), got.size());
        if (st == GPTQ_OK) {
            expect_state(before_, before_tokens_, "a failed gptq_hessian_add");
            EXPECT_OK(ctx_.get(), gptq_hessian_add(h_.get(), &x_));
            expect_no_error(ctx_.get(), "gptq_hessian_add");
            check_succeeded();
            return;
        }
        EXPECT(st == GPTQ_ERR_INVALID_ARGUMENT &&
                   std::strstr(gptq_last_error(ctx_.get()), "part-way") != nullptr,
               "after a failed add, gptq_hessian_get gave status %d (%s)", int(st),
               gptq_last_error(ctx_.get()));
        EXPECT(gptq_hessian_add(h_.get(), &x_) == GPTQ_ERR_INVALID_ARGUMENT,
               "an incomplete Hessian accepted another batch");
        EXPECT_OK(ctx_.get(), gptq_hessian_set(h_.get(), before_.data(), K, before_tokens_));
        expect_state(before_, before_tokens_, "gptq_hessian_set after a failed add");
    }
    void check_succeeded() override { expect_state(after_, after_tokens_, "gptq_hessian_add"); }
    void teardown() override {
        h_.reset();
        Case::teardown();
    }

private:
    Hessian prepared(gptq_ctx *ctx) const {
        Hessian h = make_hessian(ctx);
        if (after_set_) {
            EXPECT_OK(ctx, gptq_hessian_set(h.get(), g.hset.data(), K, kSetTokens));
        } else {
            const gptq_matrix xa = f32_matrix(g.xa, kPriorTokens, K);
            EXPECT_OK(ctx, gptq_hessian_add(h.get(), &xa));
        }
        return h;
    }
    void expect_state(const std::vector<float> &want, int64_t tokens, const char *after) {
        const int64_t got_tokens = gptq_hessian_tokens(h_.get());
        EXPECT(got_tokens == tokens, "after %s: %lld tokens, expected %lld", after,
               (long long)got_tokens, (long long)tokens);
        const std::vector<float> got = hessian_get(h_.get(), ctx_.get());
        size_t differ = 0;
        double worst = 0.0;
        for (size_t i = 0; i < got.size(); ++i)
            if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
                ++differ;
                worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
            }
        EXPECT(differ == 0,
               "after %s the Hessian differs from the reference in %zu of %zu entries "
               "(max |diff| %.3g)",
               after, differ, got.size(), worst);
    }

    bool after_set_;
    gptq_matrix x_;
    std::vector<float> before_, after_;
    int64_t before_tokens_ = 0, after_tokens_ = 0;
    Hessian h_;
};

class HessianSet final : public Case {
public:
    using Case::Case;
    void setup() override {
        Case::setup();
        h_ = make_hessian(ctx_.get());
        const gptq_matrix xa = f32_matrix(g.xa, TA, K);
        EXPECT_OK(ctx_.get(), gptq_hessian_add(h_.get(), &xa));
        before_ = hessian_get(h_.get(), ctx_.get());
    }
    gptq_status call() override { return gptq_hessian_set(h_.get(), g.hset2.data(), K, 50); }
    void check_failed() override {
        EXPECT(gptq_hessian_tokens(h_.get()) == TA, "tokens changed");
        EXPECT(same_bits(hessian_get(h_.get(), ctx_.get()), before_),
               "a failed gptq_hessian_set changed the Hessian");
        EXPECT_OK(ctx_.get(), gptq_hessian_set(h_.get(), g.hset2.data(), K, 50));
        expect_no_error(ctx_.get(), "gptq_hessian_set");
        check_succeeded();
    }
    void check_succeeded() override {
        EXPECT(gptq_hessian_tokens(h_.get()) == 50, "tokens %lld",
               (long long)gptq_hessian_tokens(h_.get()));
        EXPECT(same_bits(hessian_get(h_.get(), ctx_.get()), g.hset2),
               "gptq_hessian_get does not return the matrix given to gptq_hessian_set");
    }
    void teardown() override {
        h_.reset();
        Case::teardown();
    }

private:
    Hessian h_;
    std::vector<float> before_;
};

// ------------------------------------------------------------------ cases: quantization

// Act-order, groups of 64, lazy blocks of 64 columns, named layer (messages allocate).
gptq_quant_params params_act_order() {
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.bits = 4;
    p.group_size = 64;
    p.desc_act = 1;
    p.block_size = 64;
    p.layer_name = "blk.3.attn_q";
    return p;
}

// Static groups under act-order, symmetric 3-bit, MSE clipping search.
gptq_quant_params params_static_mse() {
    gptq_quant_params p;
    gptq_quant_params_init(&p);
    p.bits = 3;
    p.group_size = 32;
    p.sym = 1;
    p.desc_act = 1;
    p.static_groups = 1;
    p.mse = GPTQ_MSE_ON;
    p.mse_grid = 20;
    return p;
}

bool same_report(const gptq_quant_report &a, const gptq_quant_report &b) {
    // seconds is wall time: not compared.
    return a.loss == b.loss && a.rel_output_error == b.rel_output_error &&
           a.damp_used == b.damp_used && a.damp_retries == b.damp_retries &&
           a.dead_columns == b.dead_columns;
}

gptq_quant_report fresh_report() {
    gptq_quant_report r;
    std::memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.loss = -1.0;
    return r;
}

// A call that produces a layer: after a failure, out must be NULL and a repeat must give
// the reference layer; subclasses add what else the call must leave as it was.
class MakesLayer : public Case {
public:
    MakesLayer(int threads, const char *what) : Case(threads), what_(what) {}
    void setup() override {
        Case::setup();
        out_ = sentinel<gptq_qlayer>();
    }
    void check_failed() override {
        EXPECT(out_ == nullptr, "out was not set to NULL");
        check_inputs_after_failure();
        EXPECT_OK(ctx_.get(), call());
        expect_no_error(ctx_.get(), what_);
        check_succeeded();
    }
    void check_succeeded() override {
        EXPECT(out_ && out_ != sentinel<gptq_qlayer>(), "no layer");
        const QLayer own(out_);
        out_ = nullptr;
        EXPECT(same_layer(read_layer(own.get(), ctx_.get()), ref_),
               "the layer from %s differs from the reference", what_);
        check_other_outputs();
    }
    void teardown() override {
        if (out_ != sentinel<gptq_qlayer>()) gptq_qlayer_destroy(out_);
        out_ = nullptr;
        Case::teardown();
    }

protected:
    // Inputs unchanged by the failed call; runs before the repeat.
    virtual void check_inputs_after_failure() {}
    // Outputs besides the layer, after a successful call.
    virtual void check_other_outputs() {}

    const char *what_;
    LayerData ref_;
    gptq_qlayer *out_ = nullptr;
};

class QuantizeLayer final : public MakesLayer {
public:
    QuantizeLayer(int threads, const gptq_quant_params &p)
        : MakesLayer(threads, "gptq_quantize_layer"), p_(p), w_(f32_matrix(g.w, N, K)) {
        const Ctx ctx = make_ctx(threads);
        const Hessian h = calibrated_hessian(ctx.get());
        h_ref_ = hessian_get(h.get(), ctx.get());
        gptq_qlayer *q = nullptr;
        report_ref_ = fresh_report();
        EXPECT_OK(ctx.get(), gptq_quantize_layer(ctx.get(), &p_, &w_, h.get(), &q, &report_ref_));
        const QLayer own(q);
        ref_ = read_layer(q, ctx.get());
        EXPECT(report_ref_.rel_output_error > 0.0 && report_ref_.rel_output_error < 0.1,
               "reference rel_output_error %g", report_ref_.rel_output_error);
    }
    void setup() override {
        MakesLayer::setup();
        h_ = calibrated_hessian(ctx_.get());
        report_ = fresh_report();
    }
    gptq_status call() override {
        return gptq_quantize_layer(ctx_.get(), &p_, &w_, h_.get(), &out_, &report_);
    }
    void teardown() override {
        h_.reset();
        MakesLayer::teardown();
    }

private:
    void check_inputs_after_failure() override {
        EXPECT(gptq_hessian_tokens(h_.get()) == TA + TB, "tokens changed");
        EXPECT(same_bits(hessian_get(h_.get(), ctx_.get()), h_ref_),
               "a failed gptq_quantize_layer changed the Hessian");
        report_ = fresh_report();
    }
    void check_other_outputs() override {
        EXPECT(same_report(report_, report_ref_),
               "report differs: loss %.17g vs %.17g, rel_output_error %.17g vs %.17g",
               report_.loss, report_ref_.loss, report_.rel_output_error,
               report_ref_.rel_output_error);
    }

    gptq_quant_params p_;
    gptq_matrix w_;
    std::vector<float> h_ref_;
    gptq_quant_report report_ref_{}, report_{};
    Hessian h_;
};

class QuantizeRtn final : public MakesLayer {
public:
    explicit QuantizeRtn(int threads)
        : MakesLayer(threads, "gptq_quantize_rtn"), w_(f32_matrix(g.w, N, K)) {
        gptq_quant_params_init(&p_);
        p_.group_size = 64;
        const Ctx ctx = make_ctx(threads);
        gptq_qlayer *q = nullptr;
        EXPECT_OK(ctx.get(), gptq_quantize_rtn(ctx.get(), &p_, &w_, &q));
        const QLayer own(q);
        ref_ = read_layer(q, ctx.get());
    }
    gptq_status call() override { return gptq_quantize_rtn(ctx_.get(), &p_, &w_, &out_); }

private:
    gptq_quant_params p_;
    gptq_matrix w_;
};

// ------------------------------------------------------------------ cases: quantized layers

// Checkpoint tensors of an act-order layer (non-trivial g_idx), made once, unarmed.
LayerData g_source;

gptq_packed_layer source_packed() {
    gptq_packed_layer p;
    std::memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n = g_source.info.n;
    p.k = g_source.info.k;
    p.bits = g_source.info.bits;
    p.group_size = g_source.info.group_size;
    p.sym = g_source.info.sym;
    p.desc_act = g_source.info.desc_act;
    p.zeros_format = GPTQ_ZEROS_V2;
    p.qweight = g_source.qweight.data();
    p.qzeros = g_source.qzeros.data();
    p.scales = g_source.scales16.data();
    p.scales_dtype = GPTQ_DTYPE_F16;
    p.g_idx = g_source.g_idx.data();
    return p;
}

QLayer source_layer(gptq_ctx *ctx) {
    const gptq_packed_layer p = source_packed();
    gptq_qlayer *q = nullptr;
    EXPECT_OK(ctx, gptq_qlayer_from_packed(ctx, &p, &q));
    return QLayer(q);
}

class FromPacked final : public MakesLayer {
public:
    explicit FromPacked(int threads)
        : MakesLayer(threads, "gptq_qlayer_from_packed"), packed_(source_packed()) {
        const Ctx ctx = make_ctx(threads);
        ref_ = read_layer(source_layer(ctx.get()).get(), ctx.get());
    }
    gptq_status call() override { return gptq_qlayer_from_packed(ctx_.get(), &packed_, &out_); }

private:
    gptq_packed_layer packed_;
};

// A call that reads a layer into a caller buffer: get_qzeros (v1), dequantize, matmul.
class LayerRead : public Case {
public:
    using Case::Case;
    void setup() override {
        Case::setup();
        q_ = source_layer(ctx_.get());
        std::fill(out_.begin(), out_.end(), -1.0f);
    }
    void check_failed() override {
        EXPECT(same_layer(read_layer(q_.get(), ctx_.get()), layer_ref_),
               "a failed call changed the layer");
        std::fill(out_.begin(), out_.end(), -1.0f);
        EXPECT_OK(ctx_.get(), call());
        expect_no_error(ctx_.get(), "call");
        check_succeeded();
    }
    void check_succeeded() override {
        EXPECT(same_bits(out_, ref_), "the output differs from the reference run");
    }
    void teardown() override {
        q_.reset();
        Case::teardown();
    }

protected:
    // Runs the call once, unarmed, in a context of its own: the reference output.
    void make_reference(size_t out_floats) {
        out_.assign(out_floats, -1.0f);
        setup();
        EXPECT_OK(ctx_.get(), call());
        ref_ = out_;
        layer_ref_ = read_layer(q_.get(), ctx_.get());
        teardown();
    }
    QLayer q_;
    LayerData layer_ref_;
    std::vector<float> out_, ref_;  // int32 outputs are stored bitwise in floats
};

class GetQzeros final : public LayerRead {
public:
    explicit GetQzeros(int threads) : LayerRead(threads) {
        make_reference(g_source.qzeros.size());
    }
    gptq_status call() override {
        static_assert(sizeof(float) == sizeof(int32_t), "int32 outputs stored in floats");
        return gptq_qlayer_get_qzeros(q_.get(), GPTQ_ZEROS_V1,
                                      reinterpret_cast<int32_t *>(out_.data()), out_.size());
    }
};

class Dequantize final : public LayerRead {
public:
    explicit Dequantize(int threads) : LayerRead(threads) { make_reference(size_t(N * K)); }
    gptq_status call() override {
        return gptq_qlayer_dequantize(q_.get(), out_.data(), out_.size());
    }
};

class MatmulQ4 final : public LayerRead {
public:
    MatmulQ4(int threads, int64_t m, gptq_dtype dtype)
        : LayerRead(threads),
          x_(dtype == GPTQ_DTYPE_F32 ? f32_matrix(g.x, m, K) : f16_matrix(g.x16, m, K)) {
        make_reference(size_t(m * N));
    }
    gptq_status call() override {
        return gptq_matmul_q4(ctx_.get(), q_.get(), &x_, out_.data(), 0);
    }

private:
    gptq_matrix x_;
};

// ------------------------------------------------------------------ cases: dense layers

struct DLayerDel {
    void operator()(gptq_dlayer *d) const { gptq_dlayer_destroy(d); }
};
using DLayer = std::unique_ptr<gptq_dlayer, DLayerDel>;

// gptq_dlayer_create: on failure the out parameter is NULL; a later product is exact.
class DLayerCreate final : public Case {
public:
    using Case::Case;
    void setup() override {
        Case::setup();
        out_ = sentinel<gptq_dlayer>();
    }
    gptq_status call() override {
        const gptq_matrix w = f32_matrix(g.w, N, K);
        return gptq_dlayer_create(ctx_.get(), &w, &out_);
    }
    void check_failed() override {
        EXPECT(out_ == nullptr, "out was not set to NULL");
        EXPECT_OK(ctx_.get(), call());
        check_succeeded();
    }
    void check_succeeded() override {
        EXPECT(out_ && out_ != sentinel<gptq_dlayer>(), "no dense layer");
        DLayer own(out_);
        out_ = nullptr;
        EXPECT(gptq_dlayer_rows(own.get()) == N && gptq_dlayer_cols(own.get()) == K, "shape");
    }
    void teardown() override {
        if (out_ != sentinel<gptq_dlayer>()) gptq_dlayer_destroy(out_);
        out_ = nullptr;
        Case::teardown();
    }

private:
    gptq_dlayer *out_ = nullptr;
};

// gptq_matmul_dense: a failed product leaves the layer usable, and the output of a later
// (or a recovered) call equals the unarmed reference bit for bit.
class MatmulDense final : public Case {
public:
    MatmulDense(int threads, int64_t m, gptq_dtype dtype)
        : Case(threads),
          x_(dtype == GPTQ_DTYPE_F32 ? f32_matrix(g.x, m, K) : f16_matrix(g.x16, m, K)),
          out_(size_t(m * N), -1.0f) {
        setup();
        EXPECT_OK(ctx_.get(), call());
        ref_ = out_;
        teardown();
    }
    void setup() override {
        Case::setup();
        const gptq_matrix w = f32_matrix(g.w, N, K);
        gptq_dlayer *d = nullptr;
        EXPECT_OK(ctx_.get(), gptq_dlayer_create(ctx_.get(), &w, &d));
        d_.reset(d);
        std::fill(out_.begin(), out_.end(), -1.0f);
    }
    gptq_status call() override {
        return gptq_matmul_dense(ctx_.get(), d_.get(), &x_, out_.data(), 0);
    }
    void check_failed() override {
        std::fill(out_.begin(), out_.end(), -1.0f);
        EXPECT_OK(ctx_.get(), call());
        check_succeeded();
    }
    void check_succeeded() override {
        EXPECT(same_bits(out_, ref_), "the output differs from the reference run");
    }
    void teardown() override {
        d_.reset();
        Case::teardown();
    }

private:
    gptq_matrix x_;
    DLayer d_;
    std::vector<float> out_, ref_;
};

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
        HessianAdd one(1, GPTQ_DTYPE_F32, false), many(kThreads, GPTQ_DTYPE_F32, false);
        sweep("gptq_hessian_add F32", one);
        // Whether a worker thread takes a chunk (and allocates in it) is up to the scheduler:
        // on a busy machine the calling thread may run them all. A few sweeps make a
        // worker-side failure all but certain to be exercised.
        Tally t;
        for (int attempt = 0; attempt < 8 && t.oom_on_worker == 0; ++attempt)
            t = sweep("gptq_hessian_add F32", many);
        g_case = "gptq_hessian_add F32 (threads)";
        EXPECT(t.oom_on_worker > 0, "no failure on a worker thread was seen in 8 sweeps");
    });
}

void test_hessian_add_f16(void **) {
    run_checked([] {
        HessianAdd c(1, GPTQ_DTYPE_F16, false);
        const Tally t = sweep("gptq_hessian_add F16", c);
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
