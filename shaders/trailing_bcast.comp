#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// The lazy trailing update of docs/gptq-reference.md §3, W[:, i2:] -= Err1 . U[i1:i2, i2:],
// on the transposed working matrix, Wt[c][n] -= sum_b U[i1+b][c] * Err[b][n] for c >= i2,
// as trailing_update.comp, without shared memory (for n and k multiples of 4): a workgroup
// owns RI columns c, each invocation 4 adjacent rows n (one 16-byte load of Err per b) with
// RI x 4 sums in registers; the RI values U[i1+b][c] of a step come by subgroup shuffles
// (bcast.glsl). Column quads start at the one holding i2; columns before i2 are not written.
#include "addressed.glsl"
#define GPTQ_PC_TRAILING
#include "push_constants.glsl"
#include "bcast.glsl"

layout(constant_id = 0) const uint WG = 16;  // invocations, 4 rows n each
layout(constant_id = 1) const uint RI = 64;  // columns c per workgroup (a multiple of 4)
layout(constant_id = 2) const uint SG = 8;   // subgroup size the U loads are laid out for
layout(local_size_x_id = 0) in;

GPTQ_BUFFER(0, , Wt, vec4, wt4)  // [k][n / 4]
GPTQ_BUFFER(1, readonly, U, vec4, u4)  // [k][k / 4]
GPTQ_BUFFER(2, readonly, Err, vec4, err4)  // [i2 - i1][n / 4]
#ifdef GPTQ_ADDRESSED
#define wt4 GPTQ_AT(Wt, 0)
#define u4 GPTQ_AT(U, 1)
#define err4 GPTQ_AT(Err, 2)
#endif

const uint NQ = RI / 4u;  // column quads

vec4 load_u(uint q) { return u4[q]; }

void main() {
    const uint N4 = pc.n / 4u, K4 = pc.k / 4u, B = pc.i2 - pc.i1;
    const uint cq0 = pc.i2 / 4u + gl_WorkGroupID.y * NQ;
    const uint nq = gl_WorkGroupID.x * WG + gl_LocalInvocationID.x;
    const uint own = min(nq, N4 - 1u);  // past the rows: any quad, its sums are dropped
    vec4 acc[RI];
    [[unroll]] for (uint a = 0u; a < RI; ++a) acc[a] = vec4(0.0);
    for (uint b = 0u; b < B; ++b) {
        const vec4 e = err4[b * N4 + own];
        const uint row = (pc.i1 + b) * K4;
        vec4 uq[NQ];
        GPTQ_BCAST_QUADS(uq, NQ, row + cq0, row + K4 - 1u, load_u)
        [[unroll]] for (uint a = 0u; a < RI; ++a) acc[a] = fma(vec4(uq[a / 4u][a % 4u]), e, acc[a]);
    }
    if (nq >= N4) return;
    [[unroll]] for (uint a = 0u; a < RI; ++a) {
        const uint c = 4u * cq0 + a;
        if (c >= pc.i2 && c < pc.k) wt4[c * N4 + nq] -= acc[a];
    }
}
