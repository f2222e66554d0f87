#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// Y [m x n] = X [m x k] * dequant(Q)^T for small m on a run-aligned layer, split over k:
// when there are too few features to fill a device, a whole subgroup works on one feature:
// its lanes take interleaved 32-position runs (each packed word still read exactly once),
// dequantize in registers, and a subgroup reduction sums the lanes. Nothing assumes a
// subgroup size: lanes stride by gl_SubgroupSize and each workgroup's subgroups loop over
// its NPW features, so any size (4..128) covers them all.
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MROWS = 1;  // rows of X handled (>= pc.m)
layout(constant_id = 2) const uint NPW = 8;    // features per workgroup
layout(constant_id = 3) const uint BITS = 4;
layout(local_size_x_id = 0) in;

void main() {
    const uint lane = gl_SubgroupInvocationID, S = gl_SubgroupSize;
    const uint first = gl_WorkGroupID.x * NPW;
    for (uint n = first + gl_SubgroupID; n < min(first + NPW, pc.n); n += gl_NumSubgroups) {
        float acc[MROWS];
        [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[m] = 0.0;
        for (uint run = lane; run * 32u < pc.k; run += S) {
            const uint g = uint(gpos[run * 32u]);
            const vec2 p = sz[g * pc.n + n];
            const float s = p.x, z = p.y;
            uint w[8];
            [[unroll]] for (uint b = 0u; b < 8u; ++b) {
                const uint row = run * BITS + b;
                w[b] = (b < BITS && row < pc.qrows) ? qweight[qword(row, n, BITS)] : 0u;
            }
            const uint jn = min(32u, pc.k - run * 32u);
            float part[MROWS];
            [[unroll]] for (uint m = 0u; m < MROWS; ++m) part[m] = 0.0;
            for (uint j = 0u; j < jn; ++j) {
                const float wv = float(run_code(w, j, BITS)) - z;
                [[unroll]] for (uint m = 0u; m < MROWS; ++m)
                    if (m < pc.m) part[m] = fma(x_at(m, run * 32u + j), wv, part[m]);
            }
            [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[m] = fma(s, part[m], acc[m]);
        }
        [[unroll]] for (uint m = 0u; m < MROWS; ++m) {
            if (m >= pc.m) break;
            const float sum = subgroupAdd(acc[m]);
            if (subgroupElect()) store_y(m * pc.n + n, sum);
        }
    }
}
