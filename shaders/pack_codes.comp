#version 450
#extension GL_GOOGLE_include_directive : require
// Packs the column loop's codes (permuted order, bytes [ceil(k/4)][n]) into the checkpoint
// qweight [qrows][n] in natural order: word r of feature n gathers the codes whose bit
// ranges overlap bits [32r, 32r+32) of the little-endian code stream (docs/gptq-reference.md §5).
#include "addressed.glsl"
#define GPTQ_PC_PACK
#include "push_constants.glsl"

layout(local_size_x = 64) in;
GPTQ_BUFFER(0, readonly, Codes, uint, codes)
GPTQ_BUFFER(1, readonly, InvPerm, int, invperm)
GPTQ_BUFFER(2, writeonly, QWeight, uint, qweight)
#ifdef GPTQ_ADDRESSED
#define codes GPTQ_AT(Codes, 0)
#define invperm GPTQ_AT(InvPerm, 1)
#define qweight GPTQ_AT(QWeight, 2)
#endif

uint code_at(uint kk, uint n) {
    const uint p = uint(invperm[kk]);
    return (codes[(p / 4u) * pc.n + n] >> (8u * (p % 4u))) & 0xffu;
}

void main() {
    const uint n = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
    if (n >= pc.n || r >= pc.qrows) return;
    const uint lo = 32u * r, hi = lo + 32u;
    uint word = 0u;
    for (uint i = lo / pc.bits; i * pc.bits < hi && i < pc.k; ++i) {
        const uint code = code_at(i, n);
        const int shift = int(i * pc.bits) - int(lo);
        word |= shift >= 0 ? code << uint(shift) : code >> uint(-shift);
    }
    qweight[r * pc.n + n] = word;
}
