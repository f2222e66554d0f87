// The GPTQ quantizer of docs/gptq-reference.md §4: per-row (per group) min/max grid with optional MSE
// clipping search, round-half-to-even everywhere. Shared by the CPU backend, RTN and tests.
#pragma once

#include "core/options.h"

#include <cstdint>
#include <vector>

namespace gptq {

// Parameters of one row slice: q = scale * (clamp(roundEven(x/scale) + zero, 0, maxq) - zero).
struct GroupParams {
    float scale;
    float zero;  // integral value 0..maxq, kept as float like the reference
};

// Parameters for a row slice x[0..len) with stride `stride` elements between values.
GroupParams find_params(const float *x, int64_t len, int64_t stride, const QuantOptions &opt);

// The same given the slice's range as find_params computes it: xmin = the smallest value
// below 0 (else +0), xmax = the largest above 0 (else +0), NaNs ignored. For backends that
// find the range their own (vectorised) way; x is read only by the MSE search.
GroupParams find_params_in_range(const float *x, int64_t len, int64_t stride, float xmin,
                                 float xmax, const QuantOptions &opt);

// MSE clipping search (docs/gptq-reference.md §4): the number of shrink factors tried (0 without MSE) and
// each factor in order. The one definition every backend's search uses.
int mse_shrink_steps(const QuantOptions &opt);
float mse_shrink_factor(const QuantOptions &opt, int step);
std::vector<float> mse_shrink_factors(const QuantOptions &opt);

// p.zero as the integer the checkpoint stores. A non-finite zero (from a scale that
// overflowed or underflowed) becomes -1, outside every grid, which layer assembly reports
// with its cause; the conversion itself is never undefined.
inline int32_t zero_point_int(float zero) {
    return (zero >= 0.0f && zero <= 256.0f) ? int32_t(zero) : -1;
}

// Integer code of x under p.
inline int quantize_code(float x, GroupParams p, int maxq);
// Fake-quantized value of x under p: scale * (code - zero).
inline float quantize_value(float x, GroupParams p, int maxq);

} // namespace gptq

#include "core/quantizer_inl.h"
