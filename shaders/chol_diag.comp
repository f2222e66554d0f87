#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Blocked Cholesky of the logical (reversed) matrix, step 1 for the block [kb, kb + nb), one
// workgroup (shaders/factor_tiles.glsl):
//   S = L11 L11^T         (S = A11 - L10 L10^T, already formed by chol_panel; unblocked,
//                          right-looking, in shared memory)
//   X11 = L11^-1          (column by column, in the upper half of the same shared tile)
// L11 goes to A's block (the panel step solves with it), X11 (with zeros above its diagonal)
// to the same block of Xinv, the diagonal block of L^-1 (tri_inv_gemm multiplies by it). A pivot
// that is not positive and finite, or an X11 that is not finite, sets the failure flag the
// host reads back to retry with more damping. Rows past nb (the last, partial block) are
// padded with the identity.
#include "addressed.glsl"
#define GPTQ_PC_CHOL
#include "push_constants.glsl"

GPTQ_BUFFER(0, , A, float, a)
GPTQ_BUFFER(1, writeonly, Xinv, float, xinv)
GPTQ_BUFFER(2, , Flag, uint, fail_flag)
#ifdef GPTQ_ADDRESSED
#define a GPTQ_AT(A, 0)
#define xinv GPTQ_AT(Xinv, 1)
#define fail_flag GPTQ_AT(Flag, 2)
#endif

#include "factor_tiles.glsl"

void main() {
    const uint t = gl_LocalInvocationIndex;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint kb = pc.kb, nb = pc.nb;

    // S: the block brought up to date by the panel steps (chol_panel.comp) in its logical
    // lower triangle; the first block reads H from the logical upper one (H's lower
    // triangle, which the CPU backend reads too).
    [[unroll]] for (uint i = 0u; i < R; ++i)
        [[unroll]] for (uint j = 0u; j < R; ++j) {
            const uint r = ty * R + i, c = tx * R + j;
            float v = r == c ? 1.0 : 0.0;
            if (r < nb && c <= r) v = kb == 0u ? a[rev(kb + c, kb + r)] : a[rev(kb + r, kb + c)];
            SH(r * NB + c) = v;
        }

    // Factor: column j is scaled by its pivot, then the trailing lower triangle updated,
    // one row per invocation (NB <= NT), reading row j's entries as uniform values.
    bool failed = false;
    for (uint j = 0u; j < NB; ++j) {
        barrier();
        float d = SH(j * NB + j);
        if (!(d > 0.0) || isinf(d)) {
            failed = true;
            d = 1.0;  // keep the rest finite; the host discards this factor
        }
        const float piv = sqrt(d);
        const uint r = t;
        float lrj = 0.0;
        if (r > j && r < NB) {
            lrj = SH(r * NB + j) / piv;
            SH(r * NB + j) = lrj;
        }
        barrier();
        if (t == 0u) SH(j * NB + j) = piv;
        if (r > j && r < NB)
            for (uint c = j + 1u; c <= r; ++c) SH(r * NB + c) -= lrj * SH(c * NB + j);
    }
    barrier();

    // Invert: invocation c owns column c of X11 and keeps X11[i][c] (i > c) at SH(c)[i],
    // the strict upper half, which nothing else reads; L11[i][p] are uniform loads.
    if (t < NB) {
        const uint c = t;
        const float dc = 1.0 / SH(c * NB + c);
        for (uint i = 1u; i < NB; ++i) {
            float s = 0.0;
            for (uint p = 0u; p < i; ++p) {
                const float x = p > c ? SH(c * NB + p) : (p == c ? dc : 0.0);
                s = fma(SH(i * NB + p), x, s);
            }
            if (i > c) SH(c * NB + i) = -s / SH(i * NB + i);
        }
    }
    barrier();

    [[unroll]] for (uint i = 0u; i < R; ++i)
        [[unroll]] for (uint j = 0u; j < R; ++j) {
            const uint r = ty * R + i, c = tx * R + j;
            if (r >= nb || c >= nb) continue;
            float x = 0.0;
            if (c <= r) {
                a[rev(kb + r, kb + c)] = SH(r * NB + c);
                x = r == c ? 1.0 / SH(r * NB + r) : SH(c * NB + r);
            }
            if (isinf(x) || isnan(x)) failed = true;
            xinv[rev(kb + r, kb + c)] = x;
        }
    if (failed) atomicOr(fail_flag[0], 1u);
}
