#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// Y [m x n] = X [m x k] * dequant(Q)^T on a run-aligned layer, for any m: each invocation
// owns NF features (WG apart, so adjacent invocations read adjacent packed words) and MROWS
// rows of X (workgroup row y), and streams its features' packed words once, a 32-position
// run at a time: a group's scale and zero are read once for all its runs, each code is
// decoded once and feeds all MROWS rows. No shared memory and no barrier. X comes straight
// from its buffer: the lanes of a subgroup load a run's 32 values of a row together (vec4
// loads, each lane its own part) and pass them to each other by shuffles with constant lane
// indices, so a SIMD implementation (lavapipe), where every buffer load costs a scalar load
// per lane, loads each X value once instead of once per lane.
// Per run and feature: sum_j x_j (q_j - z), scaled by s at the end of the run (as the other
// run kernels). Rows past m read row m - 1 (their result is dropped), so no lane branches.
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(std430, binding = 0) readonly buffer QWeight4 { uvec4 qweight4[]; };  // 4 words a load
layout(std430, binding = 3) readonly buffer X4 { vec4 x4[]; };  // X again, 4 floats a load

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MROWS = 1;  // rows of X per invocation
layout(constant_id = 2) const uint NF = 1;     // features per invocation
layout(constant_id = 3) const uint BITS = 4;
// The subgroup size the X loads are laid out for (a power of two, 4..128; the device's, which
// Vulkan guarantees for SPIR-V before 1.6). A dispatch whose subgroups turn out to have
// another size has every lane load the whole run instead, so the result never depends on it.
layout(constant_id = 4) const uint SG = 8;
layout(local_size_x_id = 0) in;

const uint NV4 = SG >= 8u ? 1u : 8u / SG;  // vec4 loads per lane and row for a run

void main() {
    const uint first = gl_WorkGroupID.x * WG * NF + gl_LocalInvocationID.x;
    const uint m0 = gl_WorkGroupID.y * MROWS;
    const uint lane = gl_SubgroupInvocationID;
    const bool shuffle = gl_SubgroupSize == SG;
    uint n[NF];
    [[unroll]] for (uint f = 0u; f < NF; ++f) n[f] = min(first + f * WG, pc.n - 1u);
    uint xrow[MROWS];  // first element of each row's slice (a multiple of 32)
    [[unroll]] for (uint m = 0u; m < MROWS; ++m)
        xrow[m] = min(m0 + m, pc.m - 1u) * pc.ldx + pc.xoff;
    float acc[NF][MROWS];
    [[unroll]] for (uint f = 0u; f < NF; ++f)
        [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[f][m] = 0.0;

    // Runs of one group share its scale and zero: they are loaded once per group (on
    // lavapipe the per-invocation loads are a large part of the kernel's time).
    const uint runs = (pc.k + 31u) / 32u;
    uint run = 0u;
    uint g = uint(gpos[0]);  // group of the current run
    while (run < runs) {
        float s[NF], z[NF];
        [[unroll]] for (uint f = 0u; f < NF; ++f) {
            const vec2 p = sz[g * pc.n + n[f]];
            s[f] = p.x;
            z[f] = p.y;
        }
        uint next;  // group of the next run
        do {
            uint w[NF][8];
            [[unroll]] for (uint f = 0u; f < NF; ++f) {
                // The run's words are adjacent (matmul_io.glsl): one or two vector loads.
                const uint q0 = qword(run * BITS, n[f], BITS);
                [[unroll]] for (uint b = 0u; b < 8u; ++b) w[f][b] = 0u;
                if (BITS == 4u || BITS == 8u) {
                    [[unroll]] for (uint h = 0u; h < BITS / 4u; ++h) {
                        const uvec4 v = qweight4[q0 / 4u + h];
                        [[unroll]] for (uint c = 0u; c < 4u; ++c) w[f][h * 4u + c] = v[c];
                    }
                } else {
                    [[unroll]] for (uint b = 0u; b < BITS; ++b) w[f][b] = qweight[q0 + b];
                }
            }
            float part[NF][MROWS];
            [[unroll]] for (uint f = 0u; f < NF; ++f)
                [[unroll]] for (uint m = 0u; m < MROWS; ++m) part[f][m] = 0.0;
            // Positions past k hold code 0 and a padded x of 0: they add nothing.
            [[unroll]] for (uint m = 0u; m < MROWS; ++m) {
                const uint base = (xrow[m] + run * 32u) / 4u;
                vec4 xv[8];
                if (shuffle) {
                    [[unroll]] for (uint i = 0u; i < NV4; ++i) xv[i] = x4[base + min(lane + i * SG, 7u)];
                } else {  // every lane loads the whole run
                    [[unroll]] for (uint i = 0u; i < 8u; ++i) xv[i] = x4[base + i];
                }
                [[unroll]] for (uint j = 0u; j < 32u; ++j) {
                    const float xj = shuffle ? subgroupShuffle(xv[(j / 4u) / SG][j % 4u], (j / 4u) % SG)
                                             : xv[j / 4u][j % 4u];
                    [[unroll]] for (uint f = 0u; f < NF; ++f)
                        part[f][m] = fma(xj, float(run_code(w[f], j, BITS)) - z[f], part[f][m]);
                }
            }
            [[unroll]] for (uint f = 0u; f < NF; ++f)
                [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[f][m] = fma(s[f], part[f][m], acc[f][m]);
            ++run;
            next = uint(gpos[min(run, runs - 1u) * 32u]);
        } while (run < runs && next == g);
        g = next;
    }
    [[unroll]] for (uint f = 0u; f < NF; ++f)
        if (first + f * WG < pc.n)
            [[unroll]] for (uint m = 0u; m < MROWS; ++m)
                if (m0 + m < pc.m) store_y((m0 + m) * pc.n + n[f], acc[f][m]);
}
