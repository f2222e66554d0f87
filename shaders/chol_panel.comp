#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Blocked Cholesky of the logical (reversed) matrix, step 2 for the block [kb, kb + NB): the
// panel below it, one NB-row tile per workgroup (shaders/factor_tiles.glsl):
//   S = A21 - L20 L10^T   (left-looking; L20: the tile's rows, L10: the block's rows,
//                          columns 0 .. kb)
//   L21 = S L11^-T         (forward substitution, with L11 from chol_diag)
//   D -= L21 L21^T on the diagonal block of the tile's rows (right-looking).
// Everything written here lies in this workgroup's rows; the other rows it reads are final.
#include "addressed.glsl"
#define GPTQ_PC_CHOL
#include "push_constants.glsl"

GPTQ_BUFFER(0, , A, float, a)
GPTQ_BUFFER(0, readonly, A4, vec4, a4)  // the same buffer, 4 floats a load
#ifdef GPTQ_ADDRESSED
#define a GPTQ_AT(A, 0)
#define a4 GPTQ_AT(A4, 0)
#endif

#include "factor_tiles.glsl"

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint kb = pc.kb, k = pc.k;
    const uint r0 = kb + NB + gl_WorkGroupID.x * NB;  // first row of this tile

    float acc[R][R];
    CLEAR_ACC(acc);
    for (uint p0 = 0u; p0 < kb; p0 += TK) {
        barrier();
        STAGE_TRANSPOSED(0u, a4, a, r0, k - r0, p0)
        STAGE_TRANSPOSED(RIGHT, a4, a, kb, NB, p0)
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
        [[unroll]] for (uint j = 0u; j < R; ++j) {
            const uint r = ty * R + i, q = tx * R + j;
            // A's logical upper triangle (H's lower one, which the CPU backend reads too).
            SH(q * NB + r) = r0 + r < k ? a[rev(kb + q, r0 + r)] - acc[i][j] : 0.0;  // [q][r]
        }
    barrier();

    // L21 = S L11^-T by forward substitution in place, one row per invocation (NB <= NT):
    // backward stable, where a product with the explicit X11 loses accuracy on an
    // ill-conditioned block. L11 is what chol_diag wrote.
    const uint row = gl_LocalInvocationIndex;
    if (row < NB) {
        for (uint c = 0u; c < NB; ++c) {
            float s = SH(c * NB + row);
            for (uint q = 0u; q < c; ++q) s = fma(-SH(q * NB + row), a[rev(kb + c, kb + q)], s);
            s /= a[rev(kb + c, kb + c)];
            SH(c * NB + row) = s;
            if (r0 + row < k) a[rev(r0 + row, kb + c)] = s;
        }
    }

    // The diagonal block of this tile's rows, D -= L21 L21^T, in its logical lower triangle
    // (the first update reads H from the upper one, as everything else). So the diagonal
    // blocks are brought up to date right-looking, in parallel, and chol_diag, one
    // workgroup, has no product of its own to run.
    barrier();
    CLEAR_ACC(acc);
    ACCUMULATE(acc, NB, 0u, tx, ty)
    [[unroll]] for (uint i = 0u; i < R; ++i)
        [[unroll]] for (uint j = 0u; j < R; ++j) {
            const uint r = r0 + ty * R + i, c = r0 + tx * R + j;
            if (r >= k || c > r) continue;
            const float d = kb == 0u ? a[rev(c, r)] : a[rev(r, c)];
            a[rev(r, c)] = d - acc[i][j];
        }
}
