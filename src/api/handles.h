// What the opaque C handles are, and the guard that turns C++ failures into statuses.
#pragma once

#include "core/backend.h"
#include "core/error.h"
#include "core/qlayer.h"

#include <gptq/gptq.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>

struct gptq_ctx {
    std::unique_ptr<gptq::Backend> backend;
    std::string device_name;
    std::string last_error;
    int n_threads = 1;  // as resolved from the params (0 = all cores)
};

struct gptq_hessian {
    gptq_ctx *ctx = nullptr;
    std::unique_ptr<gptq::HessianState> state;
    // An add that failed part-way (out of memory, device lost) may have summed some of its
    // rows: the accumulator refuses further use until gptq_hessian_set replaces it.
    bool incomplete = false;
    // Tracked on the host as inputs arrive (O(n k), beside the O(n k^2) accumulation):
    // square_bound = sum over tokens of max_k x^2 bounds every entry of the raw sum, so an
    // add that could overflow fp32 is refused before it runs; trace gives mean(diag(H))
    // without reading H back from a device.
    double square_bound = 0.0;
    double raw_trace = 0.0;     // trace of sum x x^T (added tokens)
    double given_trace = -1.0;  // trace of the H passed to gptq_hessian_set, or -1
};

struct gptq_qlayer {
    gptq_ctx *ctx = nullptr;
    gptq::QLayer layer;
};

struct gptq_dlayer {
    gptq_ctx *ctx = nullptr;
    std::unique_ptr<gptq::DenseLayer> layer;
};

namespace gptq {

// Message slot for calls without a context (gptq_ctx_create, NULL handles).
std::string &thread_last_error();

inline std::string &error_slot(const gptq_ctx *ctx) {
    return ctx ? const_cast<gptq_ctx *>(ctx)->last_error : thread_last_error();
}

// Stores msg + detail without throwing (guarded() is noexcept): when memory is exhausted,
// keeps what of msg fits in the slot's capacity (assigning within capacity does not allocate).
inline void set_message(std::string &slot, const char *msg, const char *detail = "") noexcept {
    try {
        slot = msg;
        slot += detail;
    } catch (...) {
        slot.assign(msg, std::min(std::strlen(msg), slot.capacity()));
    }
}

// Runs body; any exception becomes a status and the message lands in ctx's slot (or the
// thread's when ctx is NULL). A successful call clears the slot.
template <class Body>
gptq_status guarded(const gptq_ctx *ctx, Body &&body) noexcept {
    std::string &slot = error_slot(ctx);
    try {
        body();
        slot.clear();
        return GPTQ_OK;
    } catch (const Error &e) {
        set_message(slot, e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        set_message(slot, "out of host memory");
        return GPTQ_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        set_message(slot, "internal error: ", e.what());
        return GPTQ_ERR_INTERNAL;
    } catch (...) {
        set_message(slot, "internal error: unknown exception");
        return GPTQ_ERR_INTERNAL;
    }
}

// The slot a handle-only call reports to: its context's, or the thread's if it is NULL.
// Throws GPTQ_ERR_INVALID_ARGUMENT if an earlier add on h failed part-way.
void require_complete_hessian(const gptq_hessian *h);

inline const gptq_ctx *ctx_of(const gptq_hessian *h) { return h ? h->ctx : nullptr; }
inline const gptq_ctx *ctx_of(const gptq_qlayer *q) { return q ? q->ctx : nullptr; }

} // namespace gptq
