// Allocation-sweep cases that make or use a layer: GPTQ, RTN, packed layers, matmul,
// dense layers.
// Part of test_alloc_failures.cpp, which includes it once: like the rest of that program it
// lives in an anonymous namespace.
#pragma once

#include "alloc_sweep.h"
#include "test_common.h"

#include <gptq/gptq.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "alloc_inputs.h"

namespace {

using namespace alloc_sweep;

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

} // namespace
