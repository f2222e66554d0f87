// gptq_matmul_q4 / gptq_matmul_q: Y = X * dequant(Q)^T on the context's backend.
#include "api/handles.h"
#include "api/validate.h"

using gptq::fail;

namespace {

gptq_status matmul(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix *x, float *y,
                   int64_t ldy) {
    if (!ctx) return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(q, "qlayer");
        if (q->ctx != ctx)
            fail(GPTQ_ERR_WRONG_CONTEXT, "qlayer was created with another context");
        const int64_t ldx = gptq::check_matrix(x, "x");
        gptq::require_non_null(y, "y");
        const gptq::QLayer &l = q->layer;
        if (x->cols != l.k)
            fail(GPTQ_ERR_SHAPE, "x is [%lld x %lld] but the layer has k = %lld inputs",
                 (long long)x->rows, (long long)x->cols, (long long)l.k);
        if (ldy == 0) ldy = l.n;
        if (ldy < l.n)
            fail(GPTQ_ERR_SHAPE, "ldy = %lld is smaller than the layer's n = %lld", (long long)ldy,
                 (long long)l.n);
        if (x->rows > INT64_MAX / 4 / ldy) fail(GPTQ_ERR_SHAPE, "y is too large");
        gptq::require_finite(x, "x");
        ctx->backend->matmul(l, x->data, x->dtype, x->rows, ldx, y, ldy);
    });
}

} // namespace

extern "C" {

GPTQ_API gptq_status gptq_matmul_q4(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix *x,
                                    float *y, int64_t ldy) {
    return matmul(ctx, q, x, y, ldy);
}

GPTQ_API gptq_status gptq_matmul_q(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix *x,
                                   float *y, int64_t ldy) {
    return matmul(ctx, q, x, y, ldy);
}

} // extern "C"
