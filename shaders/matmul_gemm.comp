#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Y [m x n] = X [m x k] * dequant(Q)^T for large m: T x T output tiles (T = TS * R), k in
// steps of one 32-position run. Each step stages X's tile and the dequantized weight tile in
// shared memory (every packed word is decoded once per tile and reused by all T rows), then
// each of the TS x TS invocations accumulates an R x R block, rows and columns strided by
// TS. Per k it loads R + R values for R * R multiply-adds, which is what bounds a CPU
// implementation (each shared-memory read is a gather there) as much as a GPU.
// Shared memory: 2 * T * 32 floats (16 KiB at T = 64, Vulkan's guaranteed minimum).
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(constant_id = 0) const uint TS = 8;  // invocations per tile side
layout(constant_id = 1) const uint R = 8;   // outputs per invocation per side
// 1 when every 32-position run lies in one group (ResidentLayer::runs_aligned): the weight
// tile then reads each feature's scale and zero once per step instead of per position.
layout(constant_id = 2) const uint RUNS_ALIGNED = 0;
layout(constant_id = 3) const uint BITS = 4;  // code width (the decode unrolls to shifts)
layout(local_size_x_id = 0, local_size_y_id = 0) in;

const uint T = TS * R, TK = 32u;
shared float xs[TK * T];  // [kk][mm]
shared float ws[TK * T];  // [kk][nn]

void main() {
    const uint t = gl_LocalInvocationIndex, NT = TS * TS;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint m0 = gl_WorkGroupID.y * T, n0 = gl_WorkGroupID.x * T;
    float acc[R][R];
    [[unroll]] for (uint i = 0u; i < R; ++i)
        [[unroll]] for (uint j = 0u; j < R; ++j) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < pc.k; k0 += TK) {
        barrier();
        for (uint e = t; e < TK * T; e += NT) {
            const uint mm = e / TK, kk = e % TK;
            const uint m = m0 + mm, k = k0 + kk;
            xs[kk * T + mm] = (m < pc.m && k < pc.k) ? x_at(m, k) : 0.0;
        }
        // The weight tile: one feature's 32-position run (its BITS words) per invocation.
        for (uint nn = t; nn < T; nn += NT) {
            const uint n = n0 + nn;
            uint w[8];
            [[unroll]] for (uint b = 0u; b < 8u; ++b) {
                const uint row = (k0 / 32u) * BITS + b;
                w[b] = (n < pc.n && b < BITS && row < pc.qrows) ? qweight[qword(row, n, BITS)] : 0u;
            }
            if (RUNS_ALIGNED != 0u) {
                const uint g = uint(gpos[k0]);
                const bool ok = n < pc.n;
                const vec2 p = ok ? sz[g * pc.n + n] : vec2(0.0);
                const float s = p.x, z = p.y;
                // Positions past k: code 0 and x 0 (staged above), so they add nothing.
                [[unroll]] for (uint kk = 0u; kk < TK; ++kk)
                    ws[kk * T + nn] = s * (float(run_code(w, kk, BITS)) - z);
            } else {
                for (uint kk = 0u; kk < TK; ++kk) {
                    const uint k = k0 + kk;
                    float v = 0.0;
                    if (n < pc.n && k < pc.k) {
                        const uint g = uint(gpos[k]);
                        const vec2 p = sz[g * pc.n + n];
                        v = p.x * (float(run_code(w, kk, BITS)) - p.y);
                    }
                    ws[kk * T + nn] = v;
                }
            }
        }
        barrier();
        for (uint kk = 0u; kk < TK; ++kk) {
            float a[R], b[R];
            [[unroll]] for (uint i = 0u; i < R; ++i) a[i] = xs[kk * T + ty + TS * i];
            [[unroll]] for (uint j = 0u; j < R; ++j) b[j] = ws[kk * T + tx + TS * j];
            [[unroll]] for (uint i = 0u; i < R; ++i)
                [[unroll]] for (uint j = 0u; j < R; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
    }
    [[unroll]] for (uint i = 0u; i < R; ++i)
        [[unroll]] for (uint j = 0u; j < R; ++j) {
            const uint m = m0 + ty + TS * i, n = n0 + tx + TS * j;
            if (m < pc.m && n < pc.n) store_y(m * pc.n + n, acc[i][j]);
        }
}
