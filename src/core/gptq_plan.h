// Decisions of docs/gptq-reference.md §2 and §5 that every backend must make identically: the act-order
// column order, the group of every column (g_idx), and the damping schedule with its
// failure message. Backends do the arithmetic; these keep the policy in one place.
#pragma once

#include <string>

#include "core/options.h"

#include <cstdint>
#include <vector>

namespace gptq {

// Order in which columns are quantized: identity, or with act-order a stable descending
// argsort of diag (diag[j * stride] for column j, after the dead-column fix).
std::vector<int32_t> column_order(const float *diag, int64_t stride, int64_t k,
                                  const QuantOptions &opt);

// g_idx [k] in natural column order (docs/gptq-reference.md §5): k / G without act-order or with static
// groups; with act-order and dynamic groups, runs of G positions in the permuted order.
// If group_of_position is given it receives the group of each position of `order`.
std::vector<int32_t> group_index(const std::vector<int32_t> &order, const QuantOptions &opt,
                                 std::vector<int32_t> *group_of_position = nullptr);

// Damping percentages tried in turn: damp_percent + attempt * damp_auto_increment, while
// it stays within damp_max.
class DampingSchedule {
public:
    explicit DampingSchedule(const QuantOptions &opt) : opt_(opt) {}
    double percent() const;
    int retries() const { return attempt_; }
    // Moves to the next damping after a failed factorization, or throws
    // GPTQ_ERR_NOT_POSITIVE_DEFINITE naming the layer when the schedule is exhausted.
    void next();
    // What the final error says about H (e.g. "H is indefinite"), from its diagonal.
    void set_cause(std::string cause) { cause_ = std::move(cause); }

private:
    const QuantOptions &opt_;
    std::string cause_;
    int attempt_ = 0;
};

} // namespace gptq
