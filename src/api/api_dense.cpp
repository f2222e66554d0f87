// Dense layers: an unquantized weight resident on the context's backend, and its product.
#include "api/handles.h"
#include "api/validate.h"

using gptq::fail;

extern "C" {

GPTQ_API gptq_status gptq_dlayer_create(gptq_ctx *ctx, const gptq_matrix *w, gptq_dlayer **out) {
    if (out) *out = nullptr;
    if (!ctx) return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(out, "out");
        const int64_t ldw = gptq::check_matrix(w, "w");
        gptq::require_finite(w, "w");
        auto d = std::make_unique<gptq_dlayer>();
        d->ctx = ctx;
        d->layer = ctx->backend->create_dense(w->data, w->dtype, w->rows, w->cols, ldw);
        *out = d.release();
    });
}

GPTQ_API void gptq_dlayer_destroy(gptq_dlayer *d) { delete d; }

GPTQ_API gptq_status gptq_matmul_dense(gptq_ctx *ctx, const gptq_dlayer *d, const gptq_matrix *x,
                                       float *y, int64_t ldy) {
    if (!ctx) return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(d, "dlayer");
        if (d->ctx != ctx)
            fail(GPTQ_ERR_WRONG_CONTEXT, "dlayer was created with another context");
        const int64_t ldx = gptq::check_matrix(x, "x");
        gptq::require_non_null(y, "y");
        const gptq::DenseLayer &l = *d->layer;
        if (x->cols != l.k())
            fail(GPTQ_ERR_SHAPE, "x is [%lld x %lld] but the dense layer has k = %lld inputs",
                 (long long)x->rows, (long long)x->cols, (long long)l.k());
        if (ldy == 0) ldy = l.n();
        if (ldy < l.n())
            fail(GPTQ_ERR_SHAPE, "ldy = %lld is smaller than the dense layer's n = %lld",
                 (long long)ldy, (long long)l.n());
        if (x->rows > INT64_MAX / 4 / ldy) fail(GPTQ_ERR_SHAPE, "y is too large");
        gptq::require_finite(x, "x");
        ctx->backend->matmul_dense(l, x->data, x->dtype, x->rows, ldx, y, ldy);
    });
}

GPTQ_API int64_t gptq_dlayer_rows(const gptq_dlayer *d) { return d ? d->layer->n() : 0; }
GPTQ_API int64_t gptq_dlayer_cols(const gptq_dlayer *d) { return d ? d->layer->k() : 0; }

} // extern "C"
