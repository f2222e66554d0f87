#version 450
#extension GL_GOOGLE_include_directive : require
// The lazy trailing update of docs/gptq-reference.md §3, W[:, i2:] -= Err1 . U[i1:i2, i2:], on the transposed
// working matrix: Wt[c][n] -= sum_b U[i1+b][c] * Err[b][n] for c >= i2. Tiles of TS*R
// columns x TS*R rows, b in steps of TB through shared memory; each invocation owns R x R
// outputs (sizes: specialization constants from the host table).
#include "addressed.glsl"
#define GPTQ_PC_TRAILING
#include "push_constants.glsl"

layout(constant_id = 0) const uint TS = 16;  // invocations per tile side
layout(constant_id = 1) const uint R = 4;    // outputs per invocation per side
layout(constant_id = 2) const uint TB = 16;  // block columns staged per step
layout(local_size_x_id = 0, local_size_y_id = 0) in;
GPTQ_BUFFER(0, , Wt, float, wt)
GPTQ_BUFFER(1, readonly, U, float, u)
GPTQ_BUFFER(2, readonly, Err, float, err)
#ifdef GPTQ_ADDRESSED
#define wt GPTQ_AT(Wt, 0)
#define u GPTQ_AT(U, 1)
#define err GPTQ_AT(Err, 2)
#endif

const uint TC = TS * R, TN = TS * R;
shared float us[TB * TC];  // [b][c]
shared float es[TB * TN];  // [b][n]

void main() {
    const uint t = gl_LocalInvocationIndex;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint N = pc.n, K = pc.k, B = pc.i2 - pc.i1;
    const uint c0 = pc.i2 + gl_WorkGroupID.y * TC, n0 = gl_WorkGroupID.x * TN;
    float acc[R][R];
    for (uint a = 0u; a < R; ++a)
        for (uint b = 0u; b < R; ++b) acc[a][b] = 0.0;
    for (uint b0 = 0u; b0 < B; b0 += TB) {
        barrier();
        for (uint e = t; e < TB * TC; e += TS * TS) {
            const uint bb = e / TC, cc = e % TC, b = b0 + bb, c = c0 + cc;
            us[e] = (b < B && c < K) ? u[(pc.i1 + b) * K + c] : 0.0;
        }
        for (uint e = t; e < TB * TN; e += TS * TS) {
            const uint bb = e / TN, nn = e % TN, b = b0 + bb, n = n0 + nn;
            es[e] = (b < B && n < N) ? err[b * N + n] : 0.0;
        }
        barrier();
        for (uint bb = 0u; bb < TB; ++bb)
            for (uint a = 0u; a < R; ++a) {
                const float uv = us[bb * TC + ty + TS * a];
                for (uint q = 0u; q < R; ++q) acc[a][q] += uv * es[bb * TN + tx + TS * q];
            }
    }
    for (uint a = 0u; a < R; ++a)
        for (uint q = 0u; q < R; ++q) {
            const uint c = c0 + ty + TS * a, n = n0 + tx + TS * q;
            if (c < K && n < N) wt[c * N + n] -= acc[a][q];
        }
}
