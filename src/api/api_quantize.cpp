// gptq_quantize_layer and gptq_quantize_rtn.
#include "api/handles.h"
#include "api/metrics.h"
#include "api/qlayer_build.h"
#include "api/validate.h"

#include "core/quantizer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

using gptq::fail;

namespace {

gptq_status no_ctx(gptq_qlayer **out) {
    if (out) *out = nullptr;
    return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
}

// Round-to-nearest on natural-order groups: the baseline, with the same grid as GPTQ.
gptq::QuantResult rtn(const gptq::QuantOptions &opt, const float *w, int64_t n, int64_t k) {
    gptq::QuantResult r;
    r.n = n;
    r.k = k;
    r.n_groups = opt.n_groups(k);
    const int64_t G = opt.group_cols(k);
    const int maxq = opt.maxq();
    r.codes.resize(size_t(n * k));
    r.scales.resize(size_t(r.n_groups * n));
    r.zeros.resize(size_t(r.n_groups * n));
    r.g_idx.resize(size_t(k));
    r.perm.resize(size_t(k));
    std::iota(r.perm.begin(), r.perm.end(), 0);
    for (int64_t j = 0; j < k; ++j) r.g_idx[size_t(j)] = int32_t(j / G);
    for (int64_t i = 0; i < n; ++i) {
        const float *row = w + i * k;
        for (int64_t g = 0; g < r.n_groups; ++g) {
            const int64_t c0 = g * G, c1 = std::min(k, c0 + G);
            const gptq::GroupParams p = gptq::find_params(row + c0, c1 - c0, 1, opt);
            r.scales[size_t(g * n + i)] = p.scale;
            r.zeros[size_t(g * n + i)] = int32_t(p.zero);
            for (int64_t j = c0; j < c1; ++j)
                r.codes[size_t(i * k + j)] = uint8_t(gptq::quantize_code(row[j], p, maxq));
        }
    }
    return r;
}

// The report is optional output: it never fails the call. struct_size 0 means "this
// header's size" (and is set to it); another size gets the leading bytes that fit, so a
// caller built against an older or newer header receives the fields both know.
void write_report(gptq_quant_report full, gptq_quant_report *report) {
    const uint32_t declared = report->struct_size;
    const size_t n = declared == 0 ? sizeof full : std::min<size_t>(declared, sizeof full);
    full.struct_size = declared == 0 ? uint32_t(sizeof full) : declared;
    std::memcpy(report, &full, n);
}

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
        std::vector<float> wf = gptq::to_f32(w, "w");

        gptq::QuantResult r;
        ctx->backend->quantize(opt, wf.data(), n, k, *hessian->state, &r);
        std::vector<float>().swap(wf);
        const double loss = r.loss, damp = r.damp_used;
        const int retries = r.damp_retries;
        const int64_t dead = r.dead_columns;

        auto q = std::make_unique<gptq_qlayer>();
        q->ctx = ctx;
        q->layer = gptq::qlayer_from_result(opt, std::move(r));
        if (report) {
            gptq_quant_report full{};
            std::vector<float> h(size_t(k * k));
            hessian->state->read_scaled(h.data());
            full.loss = loss;
            full.rel_output_error =
                gptq::relative_output_error(w, q->layer, h.data(), ctx->n_threads);
            full.damp_used = damp;
            full.damp_retries = retries;
            full.dead_columns = dead;
            full.seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            write_report(full, report);
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
        const std::vector<float> wf = gptq::to_f32(w, "w");
        auto q = std::make_unique<gptq_qlayer>();
        q->ctx = ctx;
        q->layer = gptq::qlayer_from_result(opt, rtn(opt, wf.data(), w->rows, w->cols));
        *out = q.release();
    });
}

} // extern "C"
