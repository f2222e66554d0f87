// Context lifetime and queries.
#include "api/handles.h"
#include "api/validate.h"
#include "core/abi_struct.h"

#include <cstring>
#include <thread>

namespace gptq {
std::string &thread_last_error() {
    thread_local std::string slot;
    return slot;
}
} // namespace gptq

using gptq::fail;

extern "C" {

GPTQ_API gptq_status gptq_ctx_create(const gptq_ctx_params *params, gptq_ctx **out_ctx) {
    return gptq::guarded(nullptr, [&] {
        gptq::require_non_null(out_ctx, "out_ctx");
        *out_ctx = nullptr;
        gptq_ctx_params p;
        gptq_ctx_params_init(&p);
        if (params) gptq::read_sized(params, gptq::kCtxParamsSize010, "params", &p);
        const int backend = gptq::enum_value(p.backend);
        if (backend < GPTQ_BACKEND_AUTO || backend > GPTQ_BACKEND_CUDA)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "params->backend = %d is not a gptq_backend", backend);
        if (p.device_index < 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "params->device_index = %d must be >= 0",
                 p.device_index);
        if (p.n_threads < 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "params->n_threads = %d must be >= 0 (0 = all cores)",
                 p.n_threads);
        if (p.pipeline_cache_size > 0 && !p.pipeline_cache)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "params->pipeline_cache is NULL but its size is %zu",
                 p.pipeline_cache_size);
        auto ctx = std::make_unique<gptq_ctx>();
        ctx->backend = gptq::create_backend(p);
        ctx->device_name = ctx->backend->device_name();
        const unsigned hw = std::thread::hardware_concurrency();
        ctx->n_threads = p.n_threads > 0 ? p.n_threads : (hw > 0 ? int(hw) : 1);
        *out_ctx = ctx.release();
    });
}

GPTQ_API void gptq_ctx_destroy(gptq_ctx *ctx) { delete ctx; }

GPTQ_API gptq_backend gptq_ctx_backend(const gptq_ctx *ctx) {
    return ctx ? ctx->backend->kind() : GPTQ_BACKEND_AUTO;
}

GPTQ_API const char *gptq_ctx_device_name(const gptq_ctx *ctx) {
    return ctx ? ctx->device_name.c_str() : "";
}

GPTQ_API const char *gptq_last_error(const gptq_ctx *ctx) {
    return gptq::error_slot(ctx).c_str();
}

GPTQ_API gptq_status gptq_ctx_pipeline_cache(gptq_ctx *ctx, void *dst, size_t capacity,
                                             size_t *out_size) {
    if (!ctx)
        return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(out_size, "out_size");
        const std::vector<uint8_t> blob = ctx->backend->pipeline_cache();
        *out_size = blob.size();
        if (dst) {
            if (capacity < blob.size())
                fail(GPTQ_ERR_SHAPE, "capacity %zu is smaller than the pipeline cache (%zu bytes)",
                     capacity, blob.size());
            if (!blob.empty()) std::memcpy(dst, blob.data(), blob.size());
        }
    });
}

} // extern "C"
