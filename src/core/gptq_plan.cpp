#include "core/gptq_plan.h"

#include "core/error.h"

#include <algorithm>
#include <numeric>

namespace gptq {

std::vector<int32_t> column_order(const float *diag, int64_t stride, int64_t k,
                                  const QuantOptions &opt) {
    std::vector<int32_t> order(static_cast<size_t>(k));
    std::iota(order.begin(), order.end(), 0);
    // Stable: the reference's sort is not, but the vectors only tie on dead columns, where
    // the order does not change the result (docs/reference-vectors.md §5.2).
    if (opt.desc_act)
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            return diag[int64_t(a) * stride] > diag[int64_t(b) * stride];
        });
    return order;
}

std::vector<int32_t> group_index(const std::vector<int32_t> &order, const QuantOptions &opt,
                                 std::vector<int32_t> *group_of_position) {
    const int64_t k = int64_t(order.size());
    const int64_t G = opt.group_cols(k);
    const bool permuted_groups = opt.group_size > 0 && opt.desc_act && !opt.static_groups;
    std::vector<int32_t> g_idx(size_t(k), 0);
    if (group_of_position) group_of_position->assign(size_t(k), 0);
    for (int64_t c = 0; c < k; ++c) {
        const int64_t natural = order[size_t(c)];
        const int32_t g = int32_t(permuted_groups ? c / G : natural / G);
        g_idx[size_t(natural)] = g;
        if (group_of_position) (*group_of_position)[size_t(c)] = g;
    }
    return g_idx;
}

double DampingSchedule::percent() const {
    return double(opt_.damp_percent) + double(attempt_) * double(opt_.damp_auto_increment);
}

void DampingSchedule::next() {
    const double tried = percent();
    const double upcoming = tried + double(opt_.damp_auto_increment);
    // The tolerance keeps a cap reached by repeated float increments (0.01 * 100) reachable.
    if (!(opt_.damp_auto_increment > 0.0f) || upcoming > double(opt_.damp_max) * (1.0 + 1e-6))
        fail(GPTQ_ERR_NOT_POSITIVE_DEFINITE,
             "%s: the Hessian is not positive definite even with damp_percent %g "
             "(%d attempt%s); damp_max is %g: %s",
             opt_.layer_label().c_str(), tried, attempt_ + 1, attempt_ ? "s" : "",
             double(opt_.damp_max),
             cause_.empty() ? "more calibration data or a larger damp_max may help"
                            : cause_.c_str());
    ++attempt_;
}

} // namespace gptq
