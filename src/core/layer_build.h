// Assembling a QLayer (packed checkpoint layout) from natural-order codes and parameters.
#pragma once

#include "core/backend.h"
#include "core/options.h"
#include "core/qlayer.h"

namespace gptq {

// Moves r's parameters into a QLayer and packs its codes. Checks r's internal consistency
// (sizes, code and zero ranges) and throws GPTQ_ERR_INTERNAL if a backend broke it.
QLayer qlayer_from_result(const QuantOptions &opt, QuantResult &&r);

// Dequantized row n of q into dst[0..k).
void dequantize_row(const QLayer &q, int64_t n, float *dst);

} // namespace gptq
