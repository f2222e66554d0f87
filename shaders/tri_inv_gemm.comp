#version 450
#extension GL_GOOGLE_include_directive : require
// Blocked L^-1, step 1 for row block [r0, r0+nb) (nb <= TR): the part of each entry that
// comes from rows already inverted, T[i][j] = sum_{p=j}^{r0-1} L[i][p] * Linv[p][j] for
// j < r0, a small GEMM stored in Linv[i][j] for step 2. Workgroups own TJ columns; p runs
// from the tile's first column (Linv is lower triangular) through shared memory in steps
// of TP; each invocation owns 2 rows x 4 columns (strided by 16).
#define GPTQ_PC_TRI_INV
#include "push_constants.glsl"

layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer L { float l[]; };
layout(std430, binding = 1) buffer Linv { float li[]; };

const uint TR = 32u, TJ = 64u, TP = 16u;
shared float ls[TR * TP];  // [row][p]
shared float vs[TP * TJ];  // [p][col]

void main() {
    const uint k = pc.k, r0 = pc.r0, nb = pc.nb;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint t = gl_LocalInvocationIndex, j0 = gl_WorkGroupID.x * TJ;
    float acc[2][4];
    for (uint a = 0u; a < 2u; ++a)
        for (uint b = 0u; b < 4u; ++b) acc[a][b] = 0.0;
    for (uint p0 = j0; p0 < r0; p0 += TP) {
        for (uint e = t; e < TR * TP; e += 256u) {
            const uint r = e / TP, pp = e % TP, p = p0 + pp;
            ls[e] = (r < nb && p < r0) ? l[(r0 + r) * k + p] : 0.0;
        }
        for (uint e = t; e < TP * TJ; e += 256u) {
            const uint pp = e / TJ, cc = e % TJ, p = p0 + pp, j = j0 + cc;
            vs[e] = (p < r0 && j < r0) ? li[p * k + j] : 0.0;
        }
        barrier();
        for (uint pp = 0u; pp < TP; ++pp)
            for (uint a = 0u; a < 2u; ++a) {
                const float lv = ls[(ty + 16u * a) * TP + pp];
                for (uint b = 0u; b < 4u; ++b) acc[a][b] += lv * vs[pp * TJ + tx + 16u * b];
            }
        barrier();
    }
    for (uint a = 0u; a < 2u; ++a)
        for (uint b = 0u; b < 4u; ++b) {
            const uint r = ty + 16u * a, j = j0 + tx + 16u * b;
            if (r < nb && j < r0) li[(r0 + r) * k + j] = acc[a][b];
        }
}
