#version 450
#extension GL_GOOGLE_include_directive : require
// Blocked Cholesky, step 3: symmetric trailing update A22 -= L21 L21^T for the rows below
// the current diagonal block. 64 x 64 tiles (only those touching the lower triangle), the
// nb <= NB panel columns in shared memory, 4 x 4 outputs per invocation (strided by 16).
#include "addressed.glsl"
#define GPTQ_PC_CHOL
#include "push_constants.glsl"

layout(constant_id = 0) const uint NB = 32;
layout(constant_id = 1) const uint TS = 16;  // invocations per tile side
layout(constant_id = 2) const uint R = 4;    // outputs per invocation per side
layout(local_size_x_id = 1, local_size_y_id = 1) in;
GPTQ_BUFFER(0, , A, float, a)
#ifdef GPTQ_ADDRESSED
#define a GPTQ_AT(A, 0)
#endif

const uint T = TS * R;
shared float li[NB * T];  // [p][row i]
shared float lj[NB * T];  // [p][row j]

void main() {
    const uint by = gl_WorkGroupID.y, bx = gl_WorkGroupID.x;
    if (bx > by) return;  // tile wholly above the diagonal
    const uint nb = pc.nb, kb = pc.kb, k = pc.k, base = kb + nb;
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    for (uint e = gl_LocalInvocationIndex; e < T * nb; e += TS * TS) {
        const uint r = e / nb, p = e % nb;
        const uint ri = base + by * T + r, rj = base + bx * T + r;
        li[p * T + r] = ri < k ? a[ri * k + kb + p] : 0.0;
        lj[p * T + r] = rj < k ? a[rj * k + kb + p] : 0.0;
    }
    barrier();
    float acc[R][R];
    for (uint q = 0u; q < R; ++q)
        for (uint s = 0u; s < R; ++s) acc[q][s] = 0.0;
    for (uint p = 0u; p < nb; ++p) {
        float vi[R], vj[R];
        for (uint q = 0u; q < R; ++q) vi[q] = li[p * T + ty + TS * q];
        for (uint s = 0u; s < R; ++s) vj[s] = lj[p * T + tx + TS * s];
        for (uint q = 0u; q < R; ++q)
            for (uint s = 0u; s < R; ++s) acc[q][s] += vi[q] * vj[s];
    }
    for (uint q = 0u; q < R; ++q)
        for (uint s = 0u; s < R; ++s) {
            const uint i = base + by * T + ty + TS * q, j = base + bx * T + tx + TS * s;
            if (i < k && j <= i) a[i * k + j] -= acc[q][s];
        }
}
