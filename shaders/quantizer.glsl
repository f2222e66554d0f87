// The GPTQ quantizer of docs/gptq-reference.md §4, with the same fp32 operations in the same order as the CPU
// reference (src/core/quantizer.cpp): a min/max grid that always contains 0, an optional
// MSE clipping search, round-half-to-even. The includer defines QX(i), element i of the
// slice being parameterised.
#ifndef GPTQ_QUANTIZER_GLSL
#define GPTQ_QUANTIZER_GLSL

#include "quantizer_ops.glsl"

// (xmin, xmax) of a slice of len values, widened to contain 0, symmetrised, never empty.
vec2 slice_range(uint len, bool sym) {
    float xmin = 0.0, xmax = 0.0;
    for (uint i = 0u; i < len; ++i) {
        const float x = QX(i);
        xmin = x < xmin ? x : xmin;
        xmax = x > xmax ? x : xmax;
    }
    if (sym) {
        xmax = max(abs(xmin), xmax);
        if (xmin < 0.0) xmin = -xmax;
    }
    if (xmin == 0.0 && xmax == 0.0) {
        xmin = -1.0;
        xmax = 1.0;
    }
    return vec2(xmin, xmax);
}

// (scale, zero) of the grid over [xmin, xmax].
vec2 params_from_range(float xmin, float xmax, uint bits, bool sym) {
    const float maxq = float((1u << bits) - 1u);
    precise float scale = div_rn(xmax - xmin, maxq);
    const float zero = sym ? (maxq + 1.0) / 2.0 : roundEven(div_rn(-xmin, scale));
    return vec2(scale, zero);
}

// Sum over the slice of |quantize(x) - x|^norm (the MSE search's criterion).
float clip_error(uint len, vec2 p, uint bits, float norm) {
    const float maxq = float((1u << bits) - 1u);
    float err = 0.0;
    for (uint i = 0u; i < len; ++i) {
        const float x = QX(i);
        precise float d = abs(quant_value(x, p, maxq) - x);
        err += d > 0.0 ? pow(d, norm) : 0.0;
    }
    return err;
}

#endif
