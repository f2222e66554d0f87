#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// Y [m x n] = X [m x k] * dequant(Q)^T for small m, split over k: for layers with few
// output features the one-invocation-per-feature kernel leaves the device idle, so here a
// whole subgroup works on one feature: its lanes take interleaved packed words (each word
// still read exactly once), dequantize in registers, and a subgroup reduction sums the
// lanes. Each workgroup owns NPW features and its subgroups loop over them, so any actual
// subgroup size covers them all.
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint NPW = 8;  // features per workgroup
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer QWeight { uint qweight[]; };
layout(std430, binding = 1) readonly buffer Scales { float scales[]; };
layout(std430, binding = 2) readonly buffer Zeros { int zeros[]; };
layout(std430, binding = 3) readonly buffer GIdx { int g_idx[]; };
layout(std430, binding = 4) readonly buffer X { uint x[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };

const uint MAXM = 8u;

void main() {
    const uint lane = gl_SubgroupInvocationID, S = gl_SubgroupSize;
    const uint first = gl_WorkGroupID.x * NPW;
    for (uint n = first + gl_SubgroupID; n < min(first + NPW, pc.n); n += gl_NumSubgroups) {
        float acc[MAXM];
        for (uint m = 0u; m < MAXM; ++m) acc[m] = 0.0;
        // Lane l decodes 32-code runs l, l + S, ...: `bits` words each.
        for (uint run = lane; run * 32u < pc.k; run += S) {
            uint w[8];
            for (uint b = 0u; b < 8u; ++b) {
                const uint row = run * pc.bits + b;
                w[b] = (b < pc.bits && row < pc.qrows) ? qweight[row * pc.n + n] : 0u;
            }
            const uint jn = min(32u, pc.k - run * 32u);
            for (uint j = 0u; j < jn; ++j) {
                const uint k = run * 32u + j;
                const uint g = uint(g_idx[k]);
                const float wv = scales[g * pc.n + n] *
                                 float(int(run_code(w, j, pc.bits)) - zeros[g * pc.n + n]);
                for (uint m = 0u; m < MAXM; ++m)
                    if (m < pc.m) acc[m] += GPTQ_LOAD_X(x, m * pc.k + k, pc.dtype) * wv;
            }
        }
        for (uint m = 0u; m < MAXM; ++m) {
            if (m >= pc.m) break;
            const float s = subgroupAdd(acc[m]);
            if (subgroupElect()) y[m * pc.n + n] = s;
        }
    }
}
