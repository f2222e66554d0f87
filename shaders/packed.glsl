// GPTQ packed-code access: along the packed dimension codes form a little-endian bit stream,
// code i at bits [bits*i, bits*(i+1)); 32 consecutive codes always fill exactly `bits` words
// (3-bit codes 10 and 21 straddle words), so kernels fetch whole 32-code runs.
#ifndef GPTQ_PACKED_GLSL
#define GPTQ_PACKED_GLSL

// Code j (0..31) of a run held in words w[0..bits-1].
uint run_code(uint w[8], uint j, uint bits) {
    uint bit = j * bits;
    uint idx = bit >> 5u;
    uint off = bit & 31u;
    uint v = w[idx] >> off;
    if (off + bits > 32u) v |= w[idx + 1u] << (32u - off);
    return v & ((1u << bits) - 1u);
}

#endif
