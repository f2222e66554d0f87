// The in-block error feedback of GPTQ's column loop, t[j] -= err * u[j] over the rest of a
// block, vectorised for the widest instruction set the CPU runs.
#pragma once

#include <cstdint>

namespace gptq::cpu {

// t[j] = t[j] - fl(e * u[j]) for j in [0, n): one fp32 multiply, then one subtract, never
// fused into an FMA, so every variant rounds exactly like the reference's separate
// multiply and add (the column loop's bit-exactness depends on it). t and u must not overlap.
void subtract_scaled(float *t, const float *u, float e, int64_t n);

// Name of the variant in use ("avx512", "avx2", "generic").
const char *subtract_scaled_variant();

} // namespace gptq::cpu
