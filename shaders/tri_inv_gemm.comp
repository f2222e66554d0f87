#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Blocked X = L^-1 of the logical (reversed) Cholesky factor, one row block [r0, r0 + nb)
// per dispatch, one NB-column tile [j0, j0 + NB) left of the diagonal block per workgroup
// (shaders/factor_tiles.glsl). With the rows above final (the diagonal block, X11 =
// L11^-1, is chol_diag's):
//   T = sum_{p = j0}^{r0 - 1} L[r0 + r][p] X[p][j0 + c]   (X is zero above its diagonal)
//   X[r0 + r][j0 + c] = -(L11^-1 T)[r][c]                (forward substitution)
// An entry that is not finite sets the failure flag.
#include "addressed.glsl"
#define GPTQ_PC_TRI_INV
#include "push_constants.glsl"

GPTQ_BUFFER(0, readonly, L, float, l)
GPTQ_BUFFER(0, readonly, L4, vec4, l4)  // the same buffers, 4 floats a load
GPTQ_BUFFER(1, , Xinv, float, xinv)
GPTQ_BUFFER(1, readonly, Xinv4, vec4, xinv4)
GPTQ_BUFFER(2, , Flag, uint, fail_flag)
#ifdef GPTQ_ADDRESSED
#define l GPTQ_AT(L, 0)
#define l4 GPTQ_AT(L4, 0)
#define xinv GPTQ_AT(Xinv, 1)
#define xinv4 GPTQ_AT(Xinv4, 1)
#define fail_flag GPTQ_AT(Flag, 2)
#endif

#include "factor_tiles.glsl"

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint r0 = pc.r0, nb = pc.nb;
    const uint j0 = gl_WorkGroupID.x * NB;

    float acc[R][R];
    CLEAR_ACC(acc);
    for (uint p0 = j0; p0 < r0; p0 += TK) {
        barrier();
        STAGE_TRANSPOSED(0u, l4, l, r0, nb, p0)
        STAGE_STRAIGHT(RIGHT, xinv4, xinv, p0, j0)
        barrier();
        // Each chunk's sum apart, then added: the rounding error grows with the number of
        // chunks, not of terms (the CPU backend's blocked GEMMs round about as often).
        float part[R][R];
        CLEAR_ACC(part);
        ACCUMULATE(part, TK, RIGHT, tx, ty)
        [[unroll]] for (uint i = 0u; i < R; ++i)
            [[unroll]] for (uint j = 0u; j < R; ++j) acc[i][j] += part[i][j];
    }
    barrier();
    [[unroll]] for (uint i = 0u; i < R; ++i)
        [[unroll]] for (uint j = 0u; j < R; ++j) SH((ty * R + i) * NB + tx * R + j) = acc[i][j];
    barrier();

    // X = -L11^-1 T by forward substitution in place, one column per invocation (NB <= NT):
    // backward stable, where a product with the explicit X11 in fp32 loses accuracy.
    bool failed = false;
    const uint col = gl_LocalInvocationIndex;
    if (col < NB) {
        for (uint r = 0u; r < nb; ++r) {
            float y = SH(r * NB + col);
            for (uint q = 0u; q < r; ++q) y = fma(-l[rev(r0 + r, r0 + q)], SH(q * NB + col), y);
            y /= l[rev(r0 + r, r0 + r)];
            SH(r * NB + col) = y;
            if (isinf(y) || isnan(y)) failed = true;
            xinv[rev(r0 + r, j0 + col)] = -y;
        }
    }
    if (failed) atomicOr(fail_flag[0], 1u);
}
