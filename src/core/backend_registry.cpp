// The one place that knows which backends were compiled in (GPTQ_HAVE_* definitions come
// from each backend's CMakeLists.txt).
#include "core/backend.h"
#include "core/error.h"

#include <exception>

namespace gptq {

bool backend_compiled(gptq_backend kind) {
    switch (kind) {
    case GPTQ_BACKEND_AUTO:
    case GPTQ_BACKEND_CPU: return true;
    case GPTQ_BACKEND_VULKAN:
#ifdef GPTQ_HAVE_VULKAN
        return true;
#else
        return false;
#endif
    case GPTQ_BACKEND_CUDA:
#ifdef GPTQ_HAVE_CUDA
        return true;
#else
        return false;
#endif
    }
    return false;
}

bool backend_available(gptq_backend kind) {
    switch (kind) {
    case GPTQ_BACKEND_AUTO:
    case GPTQ_BACKEND_CPU: return true;
    case GPTQ_BACKEND_VULKAN:
#ifdef GPTQ_HAVE_VULKAN
        return vulkan_backend_available();
#else
        return false;
#endif
    case GPTQ_BACKEND_CUDA:
#ifdef GPTQ_HAVE_CUDA
        return cuda_backend_available();
#else
        return false;
#endif
    }
    return false;
}

static std::unique_ptr<Backend> create_one(gptq_backend kind, const gptq_ctx_params &p) {
    switch (kind) {
    case GPTQ_BACKEND_CPU:
        if (p.device_index != 0)
            fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
                 "CPU backend: device_index %d does not exist (the CPU is device 0)",
                 p.device_index);
        return make_cpu_backend(p.n_threads);
    case GPTQ_BACKEND_VULKAN:
#ifdef GPTQ_HAVE_VULKAN
        return make_vulkan_backend(p);
#else
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "Vulkan backend: not compiled into this build of libgptq (configure with "
             "-DGPTQ_VULKAN=ON)");
#endif
    case GPTQ_BACKEND_CUDA:
#ifdef GPTQ_HAVE_CUDA
        return make_cuda_backend(p);
#else
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "CUDA backend: not compiled into this build of libgptq (configure with "
             "-DGPTQ_CUDA=ON)");
#endif
    default: break;
    }
    fail(GPTQ_ERR_INVALID_ARGUMENT, "unknown backend %d", int(kind));
}

std::unique_ptr<Backend> create_backend(const gptq_ctx_params &p) {
    if (p.backend != GPTQ_BACKEND_AUTO) return create_one(p.backend, p);
    // AUTO: the fastest backend that actually comes up, falling back to the CPU reference.
    // A Vulkan driver that runs on the CPU (lavapipe, SwiftShader) is slower than the CPU
    // backend on the same cores, so AUTO only takes Vulkan on a real GPU.
    for (gptq_backend kind : {GPTQ_BACKEND_CUDA, GPTQ_BACKEND_VULKAN}) {
        if (!backend_available(kind)) continue;
#ifdef GPTQ_HAVE_VULKAN
        if (kind == GPTQ_BACKEND_VULKAN && !vulkan_backend_is_hardware(p.device_index)) continue;
#endif
        try {
            return create_one(kind, p);
        } catch (const Error &) {
            // A device that is listed but fails to initialise: fall through to the next.
        }
    }
    return create_one(GPTQ_BACKEND_CPU, p);
}

} // namespace gptq
