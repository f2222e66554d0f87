#version 450
#extension GL_GOOGLE_include_directive : require
// Packs zero points [rows][n] along N into the checkpoint qzeros [rows][qcols], storing
// (zero - offset) masked to the code width (offset 1: v1, 0: v2). Word c of a row gathers
// the codes whose bit ranges overlap bits [32c, 32c+32) of the row's little-endian code
// stream, so 3-bit codes straddle words exactly as in qweight (docs/gptq-reference.md §5).
#include "addressed.glsl"
#define GPTQ_PC_PACK_ZEROS
#include "push_constants.glsl"

layout(local_size_x = 64) in;
GPTQ_BUFFER(0, readonly, Zeros, int, zeros)
GPTQ_BUFFER(1, writeonly, QZeros, uint, qzeros)
#ifdef GPTQ_ADDRESSED
#define zeros GPTQ_AT(Zeros, 0)
#define qzeros GPTQ_AT(QZeros, 1)
#endif

void main() {
    const uint c = gl_GlobalInvocationID.x, g = pc.row0 + gl_GlobalInvocationID.y;
    if (c >= pc.qcols || g >= pc.rows) return;
    const uint mask = (1u << pc.bits) - 1u;
    const uint lo = 32u * c, hi = lo + 32u;
    uint word = 0u;
    for (uint i = lo / pc.bits; i * pc.bits < hi && i < pc.n; ++i) {
        // Two's-complement wrap then mask: a v1 zero of 0 stores maxq, as the host does.
        const uint code = uint(zeros[g * pc.n + i] - int(pc.offset)) & mask;
        const int shift = int(i * pc.bits) - int(lo);
        word |= shift >= 0 ? code << uint(shift) : code >> uint(-shift);
    }
    qzeros[g * pc.qcols + c] = word;
}
