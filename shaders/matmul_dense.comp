#version 450
#extension GL_GOOGLE_include_directive : require
// Y [m x n] = X [m x k] * W^T for an unquantized W [n x k] (F32, F16 or BF16, 16-bit values
// two to a word): 64 x 64 output tiles, k in steps of 32. Both tiles are staged in shared
// memory as fp32 and each invocation accumulates a 4 x 4 block (strided by 16 to spread
// banks), the same tiling as matmul_gemm.comp without the dequantization.
#define GPTQ_PC_MATMUL_DENSE
#include "push_constants.glsl"
#include "common.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, binding = 0) readonly buffer W { uint w[]; };
layout(std430, binding = 1) readonly buffer X { uint x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

const uint TM = 64u, TN = 64u, TK = 32u;
shared float xs[TK * TM];  // [kk][mm]
shared float ws[TK * TN];  // [kk][nn]

void main() {
    const uint t = gl_LocalInvocationIndex;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * TN;
    float acc[4][4];
    for (uint i = 0u; i < 4u; ++i)
        for (uint j = 0u; j < 4u; ++j) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < pc.k; k0 += TK) {
        barrier();
        // Consecutive invocations read consecutive k of one row: contiguous loads.
        for (uint e = t; e < TK * TM; e += 256u) {
            const uint mm = e / TK, kk = e % TK;
            const uint m = m0 + mm, k = k0 + kk;
            xs[kk * TM + mm] =
                (m < pc.m && k < pc.k) ? GPTQ_LOAD_X(x, m * pc.k + k, pc.x_dtype) : 0.0;
        }
        for (uint e = t; e < TK * TN; e += 256u) {
            const uint nn = e / TK, kk = e % TK;
            const uint n = n0 + nn, k = k0 + kk;
            ws[kk * TN + nn] =
                (n < pc.n && k < pc.k) ? GPTQ_LOAD_X(w, n * pc.k + k, pc.w_dtype) : 0.0;
        }
        barrier();
        for (uint kk = 0u; kk < TK; ++kk) {
            float a[4], b[4];
            for (uint i = 0u; i < 4u; ++i) a[i] = xs[kk * TM + ty + 16u * i];
            for (uint j = 0u; j < 4u; ++j) b[j] = ws[kk * TN + tx + 16u * j];
            for (uint i = 0u; i < 4u; ++i)
                for (uint j = 0u; j < 4u; ++j) acc[i][j] += a[i] * b[j];
        }
    }
    for (uint i = 0u; i < 4u; ++i)
        for (uint j = 0u; j < 4u; ++j) {
            const uint m = m0 + ty + 16u * i, n = n0 + tx + 16u * j;
            if (m < pc.m && n < pc.n) y[m * pc.n + n] = acc[i][j];
        }
}
