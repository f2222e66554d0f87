#version 450
#extension GL_GOOGLE_include_directive : require
// Y [m x n] = X [m x k] * dequant(Q)^T for large m: 64 x 64 output tiles, k in steps of one
// 32-code run; the weight tile is dequantized once into shared memory and reused by all
// 64 rows of X. Each invocation accumulates a 4 x 4 block (strided by 16 to spread banks).
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(local_size_x = 16, local_size_y = 16) in;


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
        for (uint e = t; e < TK * TM; e += 256u) {
            const uint mm = e / TK, kk = e % TK;
            const uint m = m0 + mm, k = k0 + kk;
            xs[kk * TM + mm] = (m < pc.m && k < pc.k) ? x_at(m, k) : 0.0;
        }
        {   // 4 invocations per output feature, 8 codes each
            const uint nn = t / 4u, part = t % 4u, n = n0 + nn;
            uint w[8];
            for (uint b = 0u; b < 8u; ++b) {
                const uint row = (k0 / 32u) * pc.bits + b;
                w[b] = (n < pc.n && b < pc.bits && row < pc.qrows) ? qweight[row * pc.n + n] : 0u;
            }
            for (uint jj = 0u; jj < 8u; ++jj) {
                const uint kk = part * 8u + jj, k = k0 + kk;
                float v = 0.0;
                if (n < pc.n && k < pc.k) {
                    const uint g = uint(gpos[k]);
                    v = scales[g * pc.n + n] *
                        float(int(run_code(w, kk, pc.bits)) - zeros[g * pc.n + n]);
                }
                ws[kk * TN + nn] = v;
            }
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
