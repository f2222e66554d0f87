// The primitives a backend implements so that the one GPTQ driver (core/gptq_driver.cpp)
// can run on its device. The driver owns every decision of the algorithm (dead columns,
// act-order, damping schedule, which groups get parameters when, the MSE grid, result
// assembly); a session only holds the layer's device buffers (W, H, U, codes, parameters,
// loss) and does the arithmetic the driver asks for, in the order it asks. Calls may be
// recorded and run later: a GPU session submits at the latest in sync(),
// hessian_diagonal(), factor_inverse() and fetch_result(), never once per column.
#pragma once

#include "core/options.h"

#include <cstdint>
#include <vector>

namespace gptq {

struct QuantResult;

// Where group parameters are read from (docs/gptq-reference.md §2 steps 1 and 3, §3).
enum class ParamSource {
    Original,  // the caller's W, before the dead-column fix (one group per row)
    Natural,   // W after the dead-column fix, natural column order (static groups)
    Working,   // the working W in quantization order as of the current block's start
};

// What the driver decided from diag(H), handed to the session once.
struct ColumnPlan {
    std::vector<uint8_t> dead;      // [k] natural order: 1 for a column with H[j][j] == 0
    std::vector<int32_t> perm;      // [k] quantization position -> natural column
    std::vector<int32_t> group_of;  // [k] quantization position -> row of scales/zeros
};

class GptqSession {
public:
    virtual ~GptqSession() = default;

    // diag(H) as accumulated (before the dead-column fix), natural order.
    virtual std::vector<float> hessian_diagonal() = 0;
    // Parameters of groups [g0, g0 + count) of every row (with the MSE search over
    // core/quantizer.h's mse_shrink_factors when opt.mse), each over g_cols columns
    // starting at column g * g_cols of `src` (the last one may be shorter), into the rows
    // g0.. of scales/zeros.
    virtual void group_params(ParamSource src, int64_t g0, int64_t count, int64_t g_cols) = 0;
    // Stores the plan and zeroes W's dead columns (their H diagonal becomes 1 in every
    // later use of H). Called once, after any ParamSource::Original request.
    virtual void set_plan(const ColumnPlan &plan) = 0;
    // Moves W and H into quantization order (plan.perm). Called once, after any
    // ParamSource::Natural request.
    virtual void permute() = 0;
    // U = upper Cholesky factor of (Hp + damp I)^-1, always from the clean permuted H.
    // Returns false when a factorisation fails (the driver then retries with more damping).
    virtual bool factor_inverse(float damp) = 0;
    // Quantizes columns [i1, i2) of the working W (quantization order) with the in-block
    // error feedback, keeping each column's scaled error for trailing_update.
    virtual void quantize_block(int64_t i1, int64_t i2) = 0;
    // Lazy update of the columns after the block: W[:, i2:] -= Err[:, i1:i2] U[i1:i2, i2:].
    virtual void trailing_update(int64_t i1, int64_t i2) = 0;
    // Waits for everything recorded so far (GPU backends submit here).
    virtual void sync() {}
    // Blocks the driver lets pass between two sync() calls (progress reports and
    // cancellation points): 1 on the CPU; a GPU batches more to keep submits few.
    virtual int64_t blocks_per_sync(int64_t n_blocks) const {
        (void)n_blocks;
        return 1;
    }
    // Codes in natural column order (out->codes [n][k], or out->qweight already packed),
    // scales/zeros [n_groups][n], and out->loss. The driver fills everything else.
    virtual void fetch_result(QuantResult *out) = 0;
};

} // namespace gptq
