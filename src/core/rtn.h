// Round-to-nearest: the baseline GPTQ is compared with, on the same quantizer grid.
#pragma once

#include "core/backend.h"

namespace gptq {

// Natural-order groups of w [n x k] (contiguous fp32), each quantized with find_params and
// no error feedback. Ignores desc_act/static_groups (there is no Hessian to order by).
QuantResult rtn_quantize(const QuantOptions &opt, const float *w, int64_t n, int64_t k);

} // namespace gptq
