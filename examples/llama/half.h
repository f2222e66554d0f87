// fp16 / bf16 <-> fp32 for checkpoint tensors (round to nearest even, like numpy and torch).
#pragma once

#include <cstdint>
#include <cstring>

namespace llama {

inline float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const int exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | uint32_t(exp - 15 + 127) << 23 | (mant << 13);
    } else {
        // Zero or subnormal: the value is exactly mant * 2^-24, which fp32 represents.
        float f = float(mant) * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN stays NaN
    if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u); // rounds past 65504: Inf
    if (a < 0x38800000u) {
        // Result is subnormal (or zero): scale so the half ulp 2^-24 becomes 1, then let the
        // fp32 adder do the round-to-even.
        float v;
        std::memcpy(&v, &a, 4);
        const float scaled = v * 16777216.0f + 8388608.0f;  // 2^23 bias pins the ulp to 1
        uint32_t s;
        std::memcpy(&s, &scaled, 4);
        return uint16_t(sign | (s - 0x4b000000u));
    }
    const uint32_t mant_odd = (a >> 13) & 1u;
    const uint32_t r = (a + 0xfffu + mant_odd) >> 13;
    return uint16_t(sign | (r - ((127u - 15u) << 10)));
}

inline float bf16_to_float(uint16_t h) {
    const uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t float_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
    return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

} // namespace llama
