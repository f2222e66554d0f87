#version 450
#extension GL_GOOGLE_include_directive : require
// Blocked Cholesky, step 2: the panel below the diagonal block, L21 = A21 * L11^-T, by
// forward substitution; one invocation per row, L11 shared by the workgroup.
#include "addressed.glsl"
#define GPTQ_PC_CHOL
#include "push_constants.glsl"

layout(constant_id = 0) const uint NB = 32;
layout(local_size_x = 64) in;
GPTQ_BUFFER(0, , A, float, a)
#ifdef GPTQ_ADDRESSED
#define a GPTQ_AT(A, 0)
#endif

shared float l11[NB * NB];

void main() {
    const uint nb = pc.nb, kb = pc.kb, k = pc.k;
    for (uint e = gl_LocalInvocationIndex; e < nb * nb; e += 64u) {
        const uint r = e / nb, c = e % nb;
        l11[r * NB + c] = c <= r ? a[(kb + r) * k + kb + c] : 0.0;
    }
    barrier();
    const uint row = kb + nb + gl_GlobalInvocationID.x;
    if (row >= k) return;
    for (uint j = 0u; j < nb; ++j) {
        float v = a[row * k + kb + j];
        for (uint p = 0u; p < j; ++p) v -= a[row * k + kb + p] * l11[j * NB + p];
        a[row * k + kb + j] = v / l11[j * NB + j];
    }
}
