#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// C += X^T X for X [n_tokens x ld] (fp32, fp16 or bf16; rows padded with zeros to ld, a
// multiple of 4; this dispatch's first token at element `offset`), without shared memory or
// barriers. A workgroup owns RI rows i of C and 4 * WG adjacent columns j; each invocation
// owns 4 adjacent columns (one 16- or 8-byte load per token) and keeps RI x 4 sums in
// registers; the RI row values of a token come by subgroup shuffles (bcast.glsl). On
// lavapipe this does 4 * RI multiply-adds per load where the shared-memory tiling of
// hessian_accum.comp does 1, and has no barrier (a coroutine switch there).
// Only workgroups whose columns reach the diagonal do work, and only i <= j are written, each
// also to its mirror j, i from the same sum: C stays exactly symmetric. fp32 accumulation,
// explicit fma in token order, so the result does not depend on the subgroup size.
#include "addressed.glsl"
#define GPTQ_PC_HESSIAN_BCAST
#include "push_constants.glsl"
#include "bcast.glsl"

layout(constant_id = 0) const uint WG = 16;  // invocations, 4 columns each
layout(constant_id = 1) const uint RI = 64;  // rows per workgroup (a multiple of 4)
layout(constant_id = 2) const uint DTYPE = GPTQ_X_F32;
layout(constant_id = 3) const uint SG = 8;   // subgroup size the row loads are laid out for
layout(local_size_x_id = 0) in;

// X is read through its descriptor in both builds unless it exceeds the storage range
// (X_BY_ADDRESS, addressed build only): on lavapipe a load through a device address costs a
// loop over the lanes per component, four times a descriptor's vec4 load, and X is what the
// token loop reads. Either way the same values: the same result.
layout(std430, binding = 0) readonly buffer X4 { uvec4 x4[]; };  // fp32: 4 values a load
layout(std430, binding = 0) readonly buffer X2 { uvec2 x2[]; };  // 16-bit: 4 values a load
#ifdef GPTQ_ADDRESSED
layout(constant_id = 4) const uint X_BY_ADDRESS = 0;
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer XA4 { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer XA2 { uvec2 v[]; };
#define X_QUAD4(q) (X_BY_ADDRESS != 0u ? XA4(pc.gptq_addr[0]).v[q] : x4[q])
#define X_QUAD2(q) (X_BY_ADDRESS != 0u ? XA2(pc.gptq_addr[0]).v[q] : x2[q])
#else
#define X_QUAD4(q) x4[q]
#define X_QUAD2(q) x2[q]
#endif
GPTQ_BUFFER(1, , C, float, c)
#ifdef GPTQ_ADDRESSED
#define c GPTQ_AT(C, 1)
#endif

const uint NQ = RI / 4u;  // row quads

// Elements 4q .. 4q + 3 of X.
vec4 load_quad(uint q) {
    if (DTYPE == GPTQ_X_F32) return uintBitsToFloat(X_QUAD4(q));
    const uvec2 w = X_QUAD2(q);
    if (DTYPE == GPTQ_X_F16) return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
    return uintBitsToFloat(uvec4(w.x << 16, w.x & 0xffff0000u, w.y << 16, w.y & 0xffff0000u));
}

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint i0 = gl_WorkGroupID.y * RI, j0 = gl_WorkGroupID.x * 4u * WG;
    if (j0 + 4u * WG <= i0) return;  // uniform: entirely below the diagonal
    const uint ld4 = pc.ld / 4u, k = pc.k;
    const uint jq = j0 / 4u + lid;
    const uint own = min(jq, ld4 - 1u);  // past the row: any quad, its sums are dropped
    vec4 acc[RI];
    [[unroll]] for (uint a = 0u; a < RI; ++a) acc[a] = vec4(0.0);

    uint base = pc.offset / 4u;
    for (uint t = 0u; t < pc.n_tokens; ++t, base += ld4) {
        const vec4 xj = load_quad(base + own);
        vec4 xi[NQ];
        GPTQ_BCAST_QUADS(xi, NQ, base + i0 / 4u, base + ld4 - 1u, load_quad)
        [[unroll]] for (uint a = 0u; a < RI; ++a)
            acc[a] = fma(vec4(xi[a / 4u][a % 4u]), xj, acc[a]);
    }
    [[unroll]] for (uint a = 0u; a < RI; ++a) {
        const uint i = i0 + a;
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
            const uint j = 4u * jq + e;
            if (i >= k || j >= k || j < i) continue;
            c[i * k + j] += acc[a][e];
            if (j != i) c[j * k + i] += acc[a][e];
        }
    }
}
