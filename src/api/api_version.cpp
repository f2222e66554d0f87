// Versions, status strings, parameter defaults: the context-free part of the C API.
#include "api/handles.h"
#include "api/validate.h"

#include <cmath>

#define GPTQ_STR2(x) #x
#define GPTQ_STR(x) GPTQ_STR2(x)

extern "C" {

GPTQ_API unsigned gptq_version_number(void) { return GPTQ_VERSION_NUMBER; }

GPTQ_API const char *gptq_version_string(void) {
    return GPTQ_STR(GPTQ_VERSION_MAJOR) "." GPTQ_STR(GPTQ_VERSION_MINOR) "." GPTQ_STR(
        GPTQ_VERSION_PATCH);
}

GPTQ_API unsigned gptq_packed_format_version(void) { return GPTQ_PACKED_FORMAT_VERSION; }

GPTQ_API const char *gptq_status_string(gptq_status status) {
    switch (gptq::enum_value(status)) {
    case GPTQ_OK: return "ok";
    case GPTQ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case GPTQ_ERR_SHAPE: return "invalid or mismatched shape";
    case GPTQ_ERR_UNSUPPORTED: return "unsupported option";
    case GPTQ_ERR_NON_FINITE: return "non-finite value (NaN or Inf) in input";
    case GPTQ_ERR_NOT_POSITIVE_DEFINITE: return "Hessian is not positive definite";
    case GPTQ_ERR_OUT_OF_MEMORY: return "out of host memory";
    case GPTQ_ERR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case GPTQ_ERR_DEVICE: return "device error";
    case GPTQ_ERR_DEVICE_OUT_OF_MEMORY: return "out of device memory";
    case GPTQ_ERR_IO: return "I/O error";
    case GPTQ_ERR_FORMAT: return "malformed data";
    case GPTQ_ERR_CANCELLED: return "cancelled";
    case GPTQ_ERR_WRONG_CONTEXT: return "object belongs to another context";
    case GPTQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

GPTQ_API void gptq_ctx_params_init(gptq_ctx_params *p) {
    if (!p) return;
    *p = gptq_ctx_params{};
    p->struct_size = sizeof(gptq_ctx_params);
    p->backend = GPTQ_BACKEND_AUTO;
    p->device_index = 0;
    p->n_threads = 0;
}

GPTQ_API void gptq_quant_params_init(gptq_quant_params *p) {
    if (!p) return;
    *p = gptq_quant_params{};
    p->struct_size = sizeof(gptq_quant_params);
    p->bits = 4;
    p->group_size = 128;
    p->sym = 0;
    p->desc_act = 0;
    p->static_groups = 0;
    p->block_size = 128;
    p->damp_percent = 0.01f;
    p->damp_auto_increment = 0.01f;
    p->damp_max = 1.0f;
    p->mse = GPTQ_MSE_OFF;
    p->mse_grid = 100;
    p->mse_maxshrink = 0.8f;
    p->mse_norm = 2.4f;
}

GPTQ_API const char *gptq_backend_name(gptq_backend backend) {
    switch (gptq::enum_value(backend)) {
    case GPTQ_BACKEND_AUTO: return "auto";
    case GPTQ_BACKEND_CPU: return "cpu";
    case GPTQ_BACKEND_VULKAN: return "vulkan";
    case GPTQ_BACKEND_CUDA: return "cuda";
    }
    return "unknown";
}

GPTQ_API int gptq_backend_available(gptq_backend backend) {
    try {
        const int b = gptq::enum_value(backend);
        if (b < GPTQ_BACKEND_AUTO || b > GPTQ_BACKEND_CUDA) return 0;
        return gptq::backend_available(backend) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

} // extern "C"
