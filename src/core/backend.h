// The small internal interface every backend (cpu/, vulkan/, cuda/) implements. The C API
// layer (src/api/) validates all arguments, converts W to a contiguous fp32 copy and checks
// for NaN/Inf before calling in here; backends may assume well-formed input and signal
// failures by throwing gptq::Error.
#pragma once

#include "core/gptq_session.h"
#include "core/options.h"
#include "core/qlayer.h"

#include <gptq/gptq.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gptq {

// Result of quantizing one layer, in natural column order.
struct QuantResult {
    int64_t n = 0, k = 0, n_groups = 0;
    std::vector<uint8_t> codes;   // [n][k], 0..maxq; may be left empty if qweight is given
    std::vector<int32_t> qweight; // optional: the codes already packed by the backend in
                                  // checkpoint layout [packed_len(k, bits)][n]
    std::vector<float> scales;    // [n_groups][n]
    std::vector<int32_t> zeros;   // [n_groups][n]
    std::vector<int32_t> g_idx;   // [k]
    std::vector<int32_t> perm;    // [k]; identity without act-order
    double loss = 0.0;            // sum of (w - q)^2 / d^2 / 2
    double damp_used = 0.0;       // damp_percent that succeeded
    int damp_retries = 0;
    int64_t dead_columns = 0;
};

// Backend-owned Hessian accumulator: sum of x x^T over tokens, plus the token count.
class HessianState {
public:
    explicit HessianState(int64_t k) : k_(k) {}
    virtual ~HessianState() = default;
    int64_t k() const { return k_; }
    int64_t tokens() const { return tokens_; }
    bool has_data() const { return given_ || tokens_ > 0; }

    // Adds n rows of x (row stride ld elements, dtype F32/F16/BF16; already checked finite).
    virtual void add(const void *x, gptq_dtype dtype, int64_t n, int64_t ld) = 0;
    // Replaces the state by an already scaled H (K x K fp32).
    virtual void set(const float *h, int64_t n_tokens) = 0;
    // Writes the scaled H = (2/tokens) * sum (or the given H) to dst [K*K].
    virtual void read_scaled(float *dst) const = 0;

protected:
    int64_t k_;
    int64_t tokens_ = 0;
    bool given_ = false;  // set() was used: the stored matrix is already scaled
};

// A backend's resident copy of a dense weight W [n x k] (gptq_dlayer), kept in its stored
// dtype (F32/F16/BF16) wherever the backend can read that dtype directly.
class DenseLayer {
public:
    DenseLayer(int64_t n, int64_t k, gptq_dtype dtype) : n_(n), k_(k), dtype_(dtype) {}
    virtual ~DenseLayer() = default;
    int64_t n() const { return n_; }
    int64_t k() const { return k_; }
    gptq_dtype dtype() const { return dtype_; }

private:
    int64_t n_, k_;
    gptq_dtype dtype_;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual gptq_backend kind() const = 0;
    virtual std::string device_name() const = 0;

    virtual std::unique_ptr<HessianState> create_hessian(int64_t k) = 0;

    // The device state of one layer's GPTQ: w [n x k] contiguous fp32 (a private copy the
    // session may overwrite) and the Hessian h (any backend's HessianState; read_scaled()
    // is the portable access) go to the device; core/gptq_driver.cpp drives the rest.
    virtual std::unique_ptr<GptqSession> start_gptq(const QuantOptions &opt, float *w,
                                                    int64_t n, int64_t k,
                                                    const HessianState &h) = 0;
    // GPTQ of one layer: start_gptq + the core driver (defined in core/gptq_driver.cpp).
    void quantize(const QuantOptions &opt, float *w, int64_t n, int64_t k,
                  const HessianState &h, QuantResult *out);

    // The report's tr(D H D^T) / tr(W H W^T) (core/output_error.h) for the caller's W
    // [n x k] contiguous fp32, evaluated where the backend keeps H.
    virtual double relative_output_error(const QLayer &q, const float *w,
                                         const HessianState &h) = 0;

    // y [m x n] (row stride ldy) = x [m x k] (dtype, row stride ldx) * dequant(q)^T.
    virtual void matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m,
                        int64_t ldx, float *y, int64_t ldy) = 0;

    // Copies w [n x k] (dtype, row stride ldw; already checked finite) into a layer the
    // backend owns (device memory on GPU backends).
    virtual std::unique_ptr<DenseLayer> create_dense(const void *w, gptq_dtype dtype, int64_t n,
                                                     int64_t k, int64_t ldw) = 0;
    // y [m x n] (row stride ldy) = x [m x k] (dtype, row stride ldx) * W^T, fp32 accumulation.
    // w was made by this backend's create_dense.
    virtual void matmul_dense(const DenseLayer &w, const void *x, gptq_dtype dtype, int64_t m,
                              int64_t ldx, float *y, int64_t ldy) = 0;

    // qzeros [n_groups][packed_len(n, bits)] of q in checkpoint layout, storing
    // (zero - zero_offset) masked to the code width (offset 1 for v1, 0 for v2). The default
    // packs on the host (core/pack.h).
    virtual void pack_qzeros(const QLayer &q, int zero_offset, int32_t *dst);

    // Pipeline-cache blob (Vulkan); empty for others.
    virtual std::vector<uint8_t> pipeline_cache() const { return {}; }
};

// Registry (src/core/backend_registry.cpp): one row per compiled-in backend.
struct BackendEntry {
    gptq_backend kind;
    const char *name;                    // gptq_backend_name(kind)
    bool (*available)();                 // a usable device exists
    bool (*is_hardware)(int device_index);  // a real accelerator (AUTO may pick it)
    // Throws Error(GPTQ_ERR_BACKEND_UNAVAILABLE) with the reason when it cannot be created.
    std::unique_ptr<Backend> (*create)(const gptq_ctx_params &params);
};
// The rows in AUTO's order of preference; the last is the CPU reference.
const BackendEntry *backend_table(size_t *count);
const BackendEntry *find_backend(gptq_backend kind);  // nullptr when not compiled in
bool backend_available(gptq_backend kind);
// Throws Error(GPTQ_ERR_BACKEND_UNAVAILABLE) with the reason when it cannot be created.
std::unique_ptr<Backend> create_backend(const gptq_ctx_params &params);

// The CPU reference backend (also made directly by tests that compare against it); the
// other backends' entry points are declared next to their rows in backend_registry.cpp.
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

} // namespace gptq
