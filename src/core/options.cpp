#include "core/options.h"

#include "core/abi_struct.h"
#include "core/error.h"

#include <cmath>

namespace gptq {

void QuantOptions::report_progress(int64_t done, int64_t total) const {
    if (progress && progress(progress_user, done, total) != 0)
        fail(GPTQ_ERR_CANCELLED, "%s: cancelled by the progress callback at %lld of %lld columns",
             layer_label().c_str(), (long long)done, (long long)total);
}

std::string QuantOptions::layer_label() const {
    return layer_name.empty() ? std::string("layer") : "layer '" + layer_name + "'";
}

static bool finite_nonneg(float v) { return std::isfinite(v) && v >= 0.0f; }

QuantOptions quant_options_from_params(const gptq_quant_params *given) {
    if (!given) fail(GPTQ_ERR_INVALID_ARGUMENT, "params is NULL (use gptq_quant_params_init)");
    gptq_quant_params params;
    gptq_quant_params_init(&params);
    read_sized(given, kQuantParamsSize010, "params", &params);
    const gptq_quant_params *p = &params;
    QuantOptions o;
    if (p->layer_name) o.layer_name = p->layer_name;
    const std::string who = o.layer_label();
    if (p->bits != 2 && p->bits != 3 && p->bits != 4 && p->bits != 8)
        fail(GPTQ_ERR_UNSUPPORTED, "%s: bits = %d is not supported (2, 3, 4 or 8)", who.c_str(),
             p->bits);
    if (p->group_size != -1 && p->group_size < 1)
        fail(GPTQ_ERR_UNSUPPORTED, "%s: group_size = %d is not supported (-1 or >= 1)",
             who.c_str(), p->group_size);
    if (p->block_size < 1)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "%s: block_size = %d must be >= 1", who.c_str(),
             p->block_size);
    if (!finite_nonneg(p->damp_percent) || !finite_nonneg(p->damp_auto_increment) ||
        !std::isfinite(p->damp_max) || p->damp_max < p->damp_percent)
        fail(GPTQ_ERR_INVALID_ARGUMENT,
             "%s: damping must satisfy 0 <= damp_percent <= damp_max, damp_auto_increment >= 0 "
             "(got %g, %g, %g)",
             who.c_str(), p->damp_percent, p->damp_auto_increment, p->damp_max);
    if (p->mse != GPTQ_MSE_OFF && p->mse != GPTQ_MSE_ON)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "%s: mse = %d is not a gptq_mse_mode", who.c_str(), p->mse);
    if (p->mse == GPTQ_MSE_ON &&
        (p->mse_grid < 1 || !(p->mse_maxshrink > 0.0f && p->mse_maxshrink <= 1.0f) ||
         !(p->mse_norm > 0.0f) || !std::isfinite(p->mse_norm)))
        fail(GPTQ_ERR_INVALID_ARGUMENT,
             "%s: mse search needs mse_grid >= 1, 0 < mse_maxshrink <= 1, mse_norm > 0 "
             "(got %d, %g, %g)",
             who.c_str(), p->mse_grid, p->mse_maxshrink, p->mse_norm);
    o.bits = p->bits;
    o.group_size = p->group_size;
    o.sym = p->sym != 0;
    o.desc_act = p->desc_act != 0;
    o.static_groups = p->static_groups != 0;
    o.block_size = p->block_size;
    o.damp_percent = p->damp_percent;
    o.damp_auto_increment = p->damp_auto_increment;
    o.damp_max = p->damp_max;
    o.mse = p->mse == GPTQ_MSE_ON;
    o.mse_grid = p->mse_grid;
    o.mse_maxshrink = p->mse_maxshrink;
    o.mse_norm = p->mse_norm;
    o.progress = p->progress;
    o.progress_user = p->progress_user;
    return o;
}

} // namespace gptq
