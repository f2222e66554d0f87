// The CPU HessianState: fp32 sum of x x^T (lower triangle) plus the token count.
#pragma once

#include "core/backend.h"
#include "core/huge_page_allocator.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace gptq::cpu {

class ThreadPool;

// Read-only view of a scaled Hessian without copying it: element (i, j) is
// data[i*k + j] * scale (for lower-triangle storage, (j, i) when j > i). The multiply is the
// same fp32 operation read_scaled does, so values are bit-identical to its output.
struct HessianView {
    const float *data = nullptr;
    int64_t k = 0;
    float scale = 1.0f;
    bool lower_only = false;
    bool scaled = false;  // apply `scale` (false: data is already the scaled matrix)

    float at(int64_t i, int64_t j) const {
        if (lower_only && j > i) std::swap(i, j);
        const float v = data[i * k + j];
        return scaled ? v * scale : v;
    }
};

class CpuHessian final : public HessianState {
public:
    CpuHessian(int64_t k, ThreadPool *pool);
    void add(const void *x, gptq_dtype dtype, int64_t n, int64_t ld) override;
    void set(const float *h, int64_t n_tokens) override;
    void read_scaled(float *dst) const override;
    // The state itself as a view (no copy); requires has_data().
    HessianView view() const;

private:
    // On the AMX path rows are summed in chunks of kAmxChunkTokens counted from the first
    // token, whatever the batches they arrived in: a call's rows first fill the pending
    // chunk, whole chunks of the call are summed straight from the caller's memory, and the
    // rest waits in the pending chunk for the next call or a read. Every chunk costs a pass
    // over H, so 256-token calls cost a quarter of the passes they would on their own, and
    // H does not depend on how the tokens were batched.
    void add_amx(const void *x, gptq_dtype dtype, int64_t n, int64_t ld, int parts);
    void append_pending(const void *x, gptq_dtype dtype, int64_t r0, int64_t rows, int64_t ld,
                        int parts);
    // Sums the pending rows into H. Const because it only changes how the same sum is held
    // (a read must see every token added so far).
    void flush_pending() const;

    // Lower triangle of sum x x^T (upper part unspecified) while accumulating; the full
    // given matrix after set().
    mutable BigVector<float> h_;
    ThreadPool *pool_;
    mutable std::vector<uint16_t> amx_workspace_;  // the AMX path's packed bf16 chunk, reused
    mutable BigVector<float> pending_;  // up to kAmxChunkTokens rows of k values, fp32
    mutable int64_t pending_rows_ = 0;
    mutable int pending_parts_ = 1;  // bf16 parts the pending rows need (the most of any)
};

} // namespace gptq::cpu
