// Hessian accumulators: validated front for the backend's HessianState.
#include "api/handles.h"
#include "api/validate.h"

#include <limits>

using gptq::fail;

namespace {

gptq_status null_handle(const char *name) {
    return gptq::guarded(nullptr, [&] { fail(GPTQ_ERR_INVALID_ARGUMENT, "%s is NULL", name); });
}

void require_complete(const gptq_hessian *h) {
    if (h->incomplete)
        fail(GPTQ_ERR_INVALID_ARGUMENT,
             "hessian: an earlier gptq_hessian_add failed part-way, so the sum is incomplete; "
             "replace it with gptq_hessian_set or create a new Hessian");
}

} // namespace

namespace gptq {
void require_complete_hessian(const gptq_hessian *h) { require_complete(h); }
} // namespace gptq

extern "C" {

GPTQ_API gptq_status gptq_hessian_create(gptq_ctx *ctx, int64_t k, gptq_hessian **out) {
    if (!ctx) {
        if (out) *out = nullptr;
        return null_handle("ctx");
    }
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(out, "out");
        *out = nullptr;
        // K x K fp32 must be addressable; 2^20 inputs is already a 4 TiB Hessian.
        if (k <= 0 || k > (int64_t(1) << 20))
            fail(GPTQ_ERR_SHAPE, "hessian: k = %lld must be in [1, 2^20]", (long long)k);
        auto h = std::make_unique<gptq_hessian>();
        h->ctx = ctx;
        h->state = ctx->backend->create_hessian(k);
        *out = h.release();
    });
}

GPTQ_API void gptq_hessian_destroy(gptq_hessian *h) { delete h; }

GPTQ_API gptq_status gptq_hessian_add(gptq_hessian *h, const gptq_matrix *x) {
    if (!h) return null_handle("hessian");
    return gptq::guarded(h->ctx, [&] {
        const int64_t ld = gptq::check_matrix(x, "x");
        if (x->cols != h->state->k())
            fail(GPTQ_ERR_SHAPE, "x has %lld columns but the Hessian is for k = %lld inputs",
                 (long long)x->cols, (long long)h->state->k());
        const gptq::SquareSums sums = gptq::square_sums(x, "x");  // also refuses Inf/NaN
        require_complete(h);
        // Half of fp32's range: the bound holds exactly, fp32 rounding of the sums adds
        // far less than a factor of 2.
        const double limit = 0.5 * double(std::numeric_limits<float>::max());
        if (h->square_bound + sums.max_bound > limit)
            fail(GPTQ_ERR_NON_FINITE,
                 "x: activations up to %g would overflow the fp32 Hessian (the sum of their "
                 "squares reaches %.3g, fp32 holds %.3g); scale the inputs down",
                 sums.max_abs, h->square_bound + sums.max_bound, double(std::numeric_limits<float>::max()));
        try {
            h->state->add(x->data, x->dtype, x->rows, ld);
        } catch (...) {
            h->incomplete = true;
            throw;
        }
        h->square_bound += sums.max_bound;
        h->raw_trace += sums.trace;
    });
}

GPTQ_API gptq_status gptq_hessian_set(gptq_hessian *h, const float *m, int64_t k,
                                      int64_t n_tokens) {
    if (!h) return null_handle("hessian");
    return gptq::guarded(h->ctx, [&] {
        gptq::require_non_null(m, "h");
        if (k != h->state->k())
            fail(GPTQ_ERR_SHAPE, "k = %lld does not match the Hessian's k = %lld", (long long)k,
                 (long long)h->state->k());
        if (n_tokens < 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "n_tokens = %lld must be >= 0", (long long)n_tokens);
        gptq::require_finite(m, k * k, "h");
        try {
            h->state->set(m, n_tokens);
        } catch (...) {
            h->incomplete = true;
            throw;
        }
        h->incomplete = false;
        double trace = 0.0;
        for (int64_t j = 0; j < k; ++j) trace += double(m[j * k + j]);
        h->given_trace = trace;
        h->square_bound = 0.0;
        h->raw_trace = 0.0;
    });
}

GPTQ_API int64_t gptq_hessian_dim(const gptq_hessian *h) { return h ? h->state->k() : 0; }

GPTQ_API int64_t gptq_hessian_tokens(const gptq_hessian *h) {
    return h ? h->state->tokens() : 0;
}

GPTQ_API gptq_status gptq_hessian_get(const gptq_hessian *h, float *dst, size_t count) {
    if (!h) return null_handle("hessian");
    return gptq::guarded(h->ctx, [&] {
        gptq::require_non_null(dst, "dst");
        const int64_t k = h->state->k();
        gptq::require_count(count, k * k, "dst");
        if (!h->state->has_data())
            fail(GPTQ_ERR_INVALID_ARGUMENT, "hessian: no activations were added yet");
        require_complete(h);
        h->state->read_scaled(dst);
    });
}

} // extern "C"
