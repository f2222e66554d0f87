// gptq_quantize_layer and gptq_quantize_rtn.
#include "api/handles.h"
#include "api/validate.h"

#include "core/abi_struct.h"
#include "core/layer_build.h"
#include "core/rtn.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

using gptq::fail;

namespace {

gptq_status no_ctx(gptq_qlayer **out) {
    if (out) *out = nullptr;
    return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
}

// A Hessian whose diagonal is far from 1 (tiny activations: H = 1e-42 I is positive
// definite) would leave fp32 in the inverse factor and fail as "not positive definite".
// Scaling H by c = 4^e (exact in binary floating point) scales damping, L and U by exact
// powers of two, so every code, scale and zero is bit for bit what the unscaled H gives
// where that works at all; only the loss is divided back by c.
class RescaledHessian {
public:
    RescaledHessian(gptq_ctx *ctx, const gptq_hessian *h) : state_(h->state.get()) {
        const int64_t k = h->state->k();
        const double tokens = double(h->state->tokens());
        const double trace = h->given_trace >= 0.0 ? h->given_trace
                             : tokens > 0.0       ? h->raw_trace * 2.0 / tokens
                                                  : 0.0;
        const double mean = trace / double(k);
        if (!(mean > 0.0) || (mean > 0x1p-40 && mean < 0x1p40)) return;
        const int e = int(std::lround(-std::log2(mean) / 2.0));
        factor_ = std::ldexp(1.0, 2 * e);
        std::vector<float> m(size_t(k * k));
        h->state->read_scaled(m.data());
        for (float &v : m) v = std::ldexp(v, 2 * e);
        copy_ = ctx->backend->create_hessian(k);
        copy_->set(m.data(), h->state->tokens());
        state_ = copy_.get();
    }
    const gptq::HessianState &state() const { return *state_; }
    double factor() const { return factor_; }

private:
    const gptq::HessianState *state_;
    std::unique_ptr<gptq::HessianState> copy_;
    double factor_ = 1.0;
};

} // namespace

extern "C" {

GPTQ_API gptq_status gptq_quant_params_validate(const gptq_quant_params *params) {
    return gptq::guarded(nullptr, [&] { (void)gptq::quant_options_from_params(params); });
}

GPTQ_API gptq_status gptq_quantize_layer(gptq_ctx *ctx, const gptq_quant_params *params,
                                         const gptq_matrix *w, const gptq_hessian *hessian,
                                         gptq_qlayer **out, gptq_quant_report *report) {
    if (!ctx) return no_ctx(out);
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(out, "out");
        *out = nullptr;
        const auto t0 = std::chrono::steady_clock::now();
        const gptq::QuantOptions opt = gptq::quant_options_from_params(params);
        const std::string who = opt.layer_label();
        gptq::require_non_null(w, "w");
        gptq::require_non_null(hessian, "hessian");
        if (hessian->ctx != ctx)
            fail(GPTQ_ERR_WRONG_CONTEXT, "%s: the Hessian was created with another context",
                 who.c_str());
        gptq::check_matrix(w, "w");
        const int64_t n = w->rows, k = w->cols;
        if (k != hessian->state->k())
            fail(GPTQ_ERR_SHAPE, "%s: W is [%lld x %lld] but the Hessian is for k = %lld inputs",
                 who.c_str(), (long long)n, (long long)k, (long long)hessian->state->k());
        if (!hessian->state->has_data())
            fail(GPTQ_ERR_INVALID_ARGUMENT,
                 "%s: the Hessian is empty (add activations or set it first)", who.c_str());
        gptq::require_complete_hessian(hessian);
        gptq::BigVector<float> wf = gptq::to_f32(w, "w");

        gptq::QuantResult r;
        const RescaledHessian scaled(ctx, hessian);
        ctx->backend->quantize(opt, wf.data(), n, k, scaled.state(), &r);
        r.loss /= scaled.factor();
        gptq::BigVector<float>().swap(wf);
        const double loss = r.loss, damp = r.damp_used;
        const int retries = r.damp_retries;
        const int64_t dead = r.dead_columns;

        auto q = std::make_unique<gptq_qlayer>();
        q->ctx = ctx;
        q->layer = gptq::qlayer_from_result(opt, std::move(r));
        if (report) {
            // The backend overwrote its working copy: convert the caller's W again.
            const gptq::BigVector<float> w_report = gptq::to_f32(w, "w");
            gptq_quant_report full{};
            full.struct_size = sizeof full;
            full.loss = loss;
            full.rel_output_error =
                ctx->backend->relative_output_error(q->layer, w_report.data(), *hessian->state);
            full.damp_used = damp;
            full.damp_retries = retries;
            full.dead_columns = dead;
            full.seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            gptq::write_output(full, gptq::kQuantReportSize010, "report", report,
                               /*optional=*/true);
        }
        *out = q.release();
    });
}

GPTQ_API gptq_status gptq_quantize_rtn(gptq_ctx *ctx, const gptq_quant_params *params,
                                       const gptq_matrix *w, gptq_qlayer **out) {
    if (!ctx) return no_ctx(out);
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(out, "out");
        *out = nullptr;
        gptq::QuantOptions opt = gptq::quant_options_from_params(params);
        // RTN has no Hessian: there is no act-order or error feedback to describe.
        opt.desc_act = false;
        opt.static_groups = false;
        const gptq::BigVector<float> wf = gptq::to_f32(w, "w");
        auto q = std::make_unique<gptq_qlayer>();
        q->ctx = ctx;
        q->layer = gptq::qlayer_from_result(opt, gptq::rtn_quantize(opt, wf.data(), w->rows, w->cols));
        *out = q.release();
    });
}

} // extern "C"
