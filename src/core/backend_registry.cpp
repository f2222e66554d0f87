// The one table of compiled-in backends (GPTQ_HAVE_* definitions come from each backend's
// CMakeLists.txt). Adding a backend is its folder plus one row here; the rows' order is
// AUTO's order of preference.
#include "core/backend.h"
#include "core/error.h"

#include <cctype>
#include <iterator>
#include <string>

namespace gptq {

// Entry points each backend folder defines.
#ifdef GPTQ_HAVE_CUDA
bool cuda_backend_available();
std::unique_ptr<Backend> make_cuda_backend(const gptq_ctx_params &params);
#endif
#ifdef GPTQ_HAVE_VULKAN
bool vulkan_backend_available();
bool vulkan_backend_is_hardware(int device_index);  // false for CPU implementations
std::unique_ptr<Backend> make_vulkan_backend(const gptq_ctx_params &params);
#endif

namespace {

bool always() { return true; }
bool never_hardware(int) { return false; }
#ifdef GPTQ_HAVE_CUDA
bool always_hardware(int) { return true; }
#endif

std::unique_ptr<Backend> create_cpu(const gptq_ctx_params &p) {
    if (p.device_index != 0)
        fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
             "CPU backend: device_index %d does not exist (the CPU is device 0)", p.device_index);
    return make_cpu_backend(p.n_threads);
}

const BackendEntry kBackends[] = {
#ifdef GPTQ_HAVE_CUDA
    {GPTQ_BACKEND_CUDA, "cuda", cuda_backend_available, always_hardware, make_cuda_backend},
#endif
#ifdef GPTQ_HAVE_VULKAN
    {GPTQ_BACKEND_VULKAN, "vulkan", vulkan_backend_available, vulkan_backend_is_hardware,
     make_vulkan_backend},
#endif
    // The reference: always there, and AUTO's fallback.
    {GPTQ_BACKEND_CPU, "cpu", always, never_hardware, create_cpu},
};

} // namespace

const BackendEntry *backend_table(size_t *count) {
    *count = std::size(kBackends);
    return kBackends;
}

const BackendEntry *find_backend(gptq_backend kind) {
    for (const BackendEntry &e : kBackends)
        if (e.kind == kind) return &e;
    return nullptr;
}

bool backend_available(gptq_backend kind) {
    if (kind == GPTQ_BACKEND_AUTO) return true;
    const BackendEntry *e = find_backend(kind);
    return e && e->available();
}

std::unique_ptr<Backend> create_backend(const gptq_ctx_params &p) {
    if (p.backend != GPTQ_BACKEND_AUTO) {
        const BackendEntry *e = find_backend(p.backend);
        if (!e) {
            // Each backend's CMake option is GPTQ_<NAME>.
            std::string option = gptq_backend_name(p.backend);
            for (char &c : option) c = char(std::toupper(static_cast<unsigned char>(c)));
            fail(GPTQ_ERR_BACKEND_UNAVAILABLE,
                 "%s backend: not compiled into this build of libgptq (configure with "
                 "-DGPTQ_%s=ON)",
                 gptq_backend_name(p.backend), option.c_str());
        }
        return e->create(p);
    }
    // AUTO: the first hardware device that actually comes up, falling back to the last row
    // (the CPU reference). A Vulkan driver that runs on the CPU (lavapipe, SwiftShader) is
    // slower than the CPU backend on the same cores, so it is not hardware here.
    for (const BackendEntry &e : kBackends) {
        if (!e.available() || !e.is_hardware(p.device_index)) continue;
        try {
            return e.create(p);
        } catch (const Error &) {
            // A device that is listed but fails to initialise: fall through to the next.
        }
    }
    return std::rbegin(kBackends)->create(p);
}

} // namespace gptq
