// Helpers shared by several shaders.
#ifndef GPTQ_COMMON_GLSL
#define GPTQ_COMMON_GLSL

// a / b correctly rounded (to nearest even), as the CPU's IEEE division: SPIR-V only
// promises 2.5 ulp for OpFDiv (drivers often use a * rcp(b)), but the quantizer must round
// x/scale exactly as the CPU reference does (a code flips when the quotient lands within an
// ulp of a .5 tie). The exact residual a - c*b (one fused multiply-add) picks the nearest of
// the hardware quotient and its two neighbours; a quotient of floats is never exactly
// halfway between two floats, so there is no tie to break.
float div_rn(float a, float b) {
    const float q = a / b;
    if (isinf(q) || isnan(q) || q == 0.0) return q;
    const float lo = uintBitsToFloat(floatBitsToUint(q) - 1u);
    const float hi = uintBitsToFloat(floatBitsToUint(q) + 1u);
    float best = q;
    float r = abs(fma(-q, b, a));
    const float r_lo = abs(fma(-lo, b, a));
    const float r_hi = abs(fma(-hi, b, a));
    if (r_lo < r) {
        best = lo;
        r = r_lo;
    }
    if (r_hi < r) best = hi;
    return best;
}

// Element e of a raw activation buffer of dtype GPTQ_X_* (16-bit values two to a word).
#define GPTQ_LOAD_X(buf, e, dtype)                                                     \
    ((dtype) == GPTQ_X_F32 ? uintBitsToFloat(buf[(e)])                                \
     : (dtype) == GPTQ_X_F16                                                          \
         ? unpackHalf2x16(buf[(e) >> 1] >> (16u * ((e) & 1u))).x                      \
         : uintBitsToFloat(((buf[(e) >> 1] >> (16u * ((e) & 1u))) & 0xffffu) << 16))

#endif
