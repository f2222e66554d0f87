#version 450
#extension GL_GOOGLE_include_directive : require
// Blocked L^-1, step 1 for row block [r0, r0+nb) (nb <= TR): the part of each entry that
// comes from rows already inverted, T[i][j] = sum_{p=j}^{r0-1} L[i][p] * Linv[p][j] for
// j < r0, a small GEMM stored in Linv[i][j] for step 2. Workgroups own TJ columns; p runs
// from the tile's first column (Linv is lower triangular) through shared memory in steps
// of TP; each invocation owns RR rows x RC columns (strided by TS).
#include "addressed.glsl"
#define GPTQ_PC_TRI_INV
#include "push_constants.glsl"

layout(constant_id = 0) const uint TS = 16;  // invocations per tile side
layout(constant_id = 1) const uint RR = 2;   // rows per invocation
layout(constant_id = 2) const uint RC = 4;   // columns per invocation
layout(constant_id = 3) const uint TP = 16;  // p staged per step
layout(local_size_x_id = 0, local_size_y_id = 0) in;
GPTQ_BUFFER(0, readonly, L, float, l)
GPTQ_BUFFER(1, , Linv, float, li)
#ifdef GPTQ_ADDRESSED
#define l GPTQ_AT(L, 0)
#define li GPTQ_AT(Linv, 1)
#endif

const uint TR = TS * RR, TJ = TS * RC;
shared float ls[TR * TP];  // [row][p]
shared float vs[TP * TJ];  // [p][col]

void main() {
    const uint k = pc.k, r0 = pc.r0, nb = pc.nb;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint t = gl_LocalInvocationIndex, j0 = gl_WorkGroupID.x * TJ;
    float acc[RR][RC];
    for (uint a = 0u; a < RR; ++a)
        for (uint b = 0u; b < RC; ++b) acc[a][b] = 0.0;
    for (uint p0 = j0; p0 < r0; p0 += TP) {
        for (uint e = t; e < TR * TP; e += TS * TS) {
            const uint r = e / TP, pp = e % TP, p = p0 + pp;
            ls[e] = (r < nb && p < r0) ? l[(r0 + r) * k + p] : 0.0;
        }
        for (uint e = t; e < TP * TJ; e += TS * TS) {
            const uint pp = e / TJ, cc = e % TJ, p = p0 + pp, j = j0 + cc;
            vs[e] = (p < r0 && j < r0) ? li[p * k + j] : 0.0;
        }
        barrier();
        for (uint pp = 0u; pp < TP; ++pp)
            for (uint a = 0u; a < RR; ++a) {
                const float lv = ls[(ty + TS * a) * TP + pp];
                for (uint b = 0u; b < RC; ++b) acc[a][b] += lv * vs[pp * TJ + tx + TS * b];
            }
        barrier();
    }
    for (uint a = 0u; a < RR; ++a)
        for (uint b = 0u; b < RC; ++b) {
            const uint r = ty + TS * a, j = j0 + tx + TS * b;
            if (r < nb && j < r0) li[(r0 + r) * k + j] = acc[a][b];
        }
}
