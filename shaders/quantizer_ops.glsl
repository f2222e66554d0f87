// Rounding of one value onto a quantizer grid p = (scale, zero), as the CPU reference:
// code = clamp(roundEven(x / scale) + zero, 0, maxq), value = scale * (code - zero).
#ifndef GPTQ_QUANTIZER_OPS_GLSL
#define GPTQ_QUANTIZER_OPS_GLSL

#include "common.glsl"

uint quant_code(float x, vec2 p, float maxq) {
    precise float q = roundEven(div_rn(x, p.x)) + p.y;
    return uint(clamp(q, 0.0, maxq));
}

float quant_value(float x, vec2 p, float maxq) {
    precise float v = p.x * (float(quant_code(x, p, maxq)) - p.y);
    return v;
}

#endif
