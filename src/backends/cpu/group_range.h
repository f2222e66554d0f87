// The range of a row slice as core/quantizer.h's find_params computes it (smallest value
// below 0, largest above 0, +0 when there is none, NaNs ignored), 16 values at a time where
// the CPU has AVX-512: the GPTQ loop asks for it for every row of every group.
#pragma once

#include <cstdint>

namespace gptq::cpu {

// x[0..len) contiguous -> *xmin, *xmax, bit for bit find_params's values.
void group_range(const float *x, int64_t len, float *xmin, float *xmax);

} // namespace gptq::cpu
