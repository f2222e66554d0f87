#include "core/gptq_driver.h"

#include "core/gptq_plan.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace gptq {

namespace {

// Steps 2, 4 and 5 of docs/gptq-reference.md §2 from diag(H): dead columns (their diagonal becomes 1), the
// act-order permutation of the fixed diagonal, each position's group; returns mean(diag)
// for the damping.
float plan_columns(const QuantOptions &opt, std::vector<float> diag, ColumnPlan *plan,
                   std::vector<int32_t> *g_idx, int64_t *n_dead) {
    const int64_t k = int64_t(diag.size());
    plan->dead.assign(size_t(k), 0);
    *n_dead = 0;
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
        if (diag[size_t(j)] == 0.0f) {
            diag[size_t(j)] = 1.0f;
            plan->dead[size_t(j)] = 1;
            ++*n_dead;
        }
        sum += diag[size_t(j)];
    }
    plan->perm = column_order(diag.data(), 1, k, opt);
    *g_idx = group_index(plan->perm, opt, &plan->group_of);
    return float(sum / double(k));
}

// Why a Hessian may fail to factor, as far as its diagonal tells.
std::string diagnose(const std::vector<float> &diag) {
    float largest = 0.0f;
    for (float d : diag) {
        if (!std::isfinite(d)) return "H is not finite (NaN or Inf on its diagonal)";
        if (d < 0.0f) return "H is indefinite (a negative diagonal entry: not a Gram matrix)";
        largest = std::fmax(largest, d);
    }
    if (largest < 1e-30f)
        return "H is (nearly) zero: the calibration inputs carry almost no signal";
    return "H is indefinite or too ill-conditioned for fp32: more calibration data, or a "
           "larger damp_max, may help";
}

} // namespace

void run_gptq(GptqSession &s, const QuantOptions &opt, int64_t n, int64_t k, QuantResult *out) {
    const int64_t G = opt.group_cols(k), n_groups = opt.n_groups(k);
    const bool per_row = opt.group_size < 0;
    const bool static_groups = !per_row && opt.static_groups;

    // 1. One group per row: parameters from the caller's W, before the dead-column fix.
    if (per_row) s.group_params(ParamSource::Original, 0, 1, k);

    // 2, 4, 5. Dead columns, act-order and groups from diag(H).
    ColumnPlan plan;
    std::vector<int32_t> g_idx;
    int64_t n_dead = 0;
    DampingSchedule schedule(opt);
    std::vector<float> diag = s.hessian_diagonal();
    schedule.set_cause(diagnose(diag));
    const float mean_diag = plan_columns(opt, std::move(diag), &plan, &g_idx, &n_dead);
    s.set_plan(plan);

    // 3. Static groups: parameters from the dead-zeroed, unpermuted W.
    if (static_groups) s.group_params(ParamSource::Natural, 0, n_groups, G);
    s.permute();

    // 6. Damping relative to mean(diag(H)), raised until the inverse factor exists; every
    // attempt starts again from the clean H.
    for (;; schedule.next())
        if (s.factor_inverse(float(schedule.percent()) * mean_diag)) break;

    // The column loop (docs/gptq-reference.md §3). Dynamic groups get their parameters at the start of the
    // block they begin in, from W as of that block start (the reference's quirk).
    const int64_t bs = std::max(1, opt.block_size);
    const int64_t n_blocks = (k + bs - 1) / bs;
    const int64_t per_sync = std::max<int64_t>(1, s.blocks_per_sync(n_blocks));
    const bool dynamic = !per_row && !static_groups;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const int64_t i1 = b * bs, i2 = std::min(k, i1 + bs);
        if (dynamic) {
            const int64_t g0 = (i1 + G - 1) / G, g1 = (i2 + G - 1) / G;
            if (g1 > g0) s.group_params(ParamSource::Working, g0, g1 - g0, G);
        }
        s.quantize_block(i1, i2);
        if (i2 < k) s.trailing_update(i1, i2);
        if ((b + 1) % per_sync == 0 || b + 1 == n_blocks) {
            s.sync();
            opt.report_progress(i2, k);
        }
    }

    s.fetch_result(out);
    out->n = n;
    out->k = k;
    out->n_groups = n_groups;
    out->perm = std::move(plan.perm);
    out->g_idx = std::move(g_idx);
    out->dead_columns = n_dead;
    out->damp_used = float(schedule.percent());
    out->damp_retries = schedule.retries();
}

void Backend::quantize(const QuantOptions &opt, float *w, int64_t n, int64_t k,
                       const HessianState &h, QuantResult *out) {
    const std::unique_ptr<GptqSession> session = start_gptq(opt, w, n, k, h);
    run_gptq(*session, opt, n, k, out);
}

} // namespace gptq
