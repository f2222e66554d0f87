#version 450
#extension GL_GOOGLE_include_directive : require
// C += X^T X for X [n_tokens x k] (fp32, fp16 or bf16, contiguous, starting at element
// `offset`): the Hessian sum.
// 64 x 64 output tiles, 16 tokens at a time through shared memory, 4 x 4 outputs per
// invocation (strided by 16). Only tiles with bi <= bj do work; each also writes its mirror
// tile from the same sums, so C stays exactly symmetric at half the cost. fp32 accumulation.
#include "addressed.glsl"
#define GPTQ_PC_HESSIAN_ACCUM
#include "push_constants.glsl"
#include "common.glsl"

layout(constant_id = 0) const uint TS = 16;  // invocations per tile side
layout(constant_id = 1) const uint R = 4;    // outputs per invocation per side
layout(constant_id = 2) const uint TT = 16;  // tokens staged per step
layout(local_size_x_id = 0, local_size_y_id = 0) in;

GPTQ_BUFFER(0, readonly, X, uint, xin)
GPTQ_BUFFER(1, , C, float, c)
#ifdef GPTQ_ADDRESSED
#define xin GPTQ_AT(X, 0)
#define c GPTQ_AT(C, 1)
#endif

const uint T = TS * R;
shared float xa[TT * T];  // [token][i]
shared float xb[TT * T];  // [token][j]

void main() {
    const uint bi = gl_WorkGroupID.y, bj = gl_WorkGroupID.x;
    if (bi > bj) return;  // uniform across the workgroup: the mirror tile covers it
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint t = gl_LocalInvocationIndex, k = pc.k;
    float acc[R][R];
    for (uint a = 0u; a < R; ++a)
        for (uint b = 0u; b < R; ++b) acc[a][b] = 0.0;
    for (uint t0 = 0u; t0 < pc.n_tokens; t0 += TT) {
        for (uint e = t; e < TT * T; e += TS * TS) {
            const uint tok = t0 + e / T, col = e % T;
            const uint ci = bi * T + col, cj = bj * T + col;
            const bool ok = tok < pc.n_tokens;
            xa[e] = (ok && ci < k) ? GPTQ_LOAD_X(xin, pc.offset + tok * k + ci, pc.dtype) : 0.0;
            xb[e] = (ok && cj < k) ? GPTQ_LOAD_X(xin, pc.offset + tok * k + cj, pc.dtype) : 0.0;
        }
        barrier();
        for (uint tt = 0u; tt < TT; ++tt) {
            float va[R], vb[R];
            for (uint a = 0u; a < R; ++a) va[a] = xa[tt * T + ty + TS * a];
            for (uint b = 0u; b < R; ++b) vb[b] = xb[tt * T + tx + TS * b];
            for (uint a = 0u; a < R; ++a)
                for (uint b = 0u; b < R; ++b) acc[a][b] += va[a] * vb[b];
        }
        barrier();
    }
    for (uint a = 0u; a < R; ++a)
        for (uint b = 0u; b < R; ++b) {
            const uint i = bi * T + ty + TS * a, j = bj * T + tx + TS * b;
            if (i >= k || j >= k) continue;
            c[i * k + j] += acc[a][b];
            if (bi != bj) c[j * k + i] += acc[a][b];
        }
}
