// The report's relative output error of a quantized layer:
//   tr(D H D^T) / tr(W H W^T),  D = W - dequant(q),
// the share of the layer's output energy on the calibration inputs that quantization
// loses (H = (2/T) X^T X, so tr(W H W^T) = (2/T) ||X W^T||^2). Core defines it; each
// backend evaluates it where H lives (Backend::relative_output_error). Any positive
// multiple of H gives the same ratio, so a backend may use its unscaled sum.
#pragma once

#include "core/qlayer.h"

#include <cstdint>

namespace gptq {

// Rows [r0, r0 + rows) of D = W - dequant(q) into dst [rows x k]; w is [n x k] contiguous.
void output_error_rows(const QLayer &q, const float *w, int64_t r0, int64_t rows, float *dst);

// num / den, or 0 when den is 0 (an all-zero W or H).
inline double output_error_ratio(double num, double den) { return den > 0.0 ? num / den : 0.0; }

// <A, B> = sum_ij A_ij B_ij of two k x k row-major matrices, in double.
double frobenius_dot(const float *a, const float *b, int64_t k);

} // namespace gptq
