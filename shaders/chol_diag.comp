#version 450
#extension GL_GOOGLE_include_directive : require
// Blocked Cholesky, step 1: factor the nb x nb diagonal block at (kb, kb) in shared memory
// (right-looking, one column at a time). A pivot that is not positive and finite sets the
// failure flag the host reads back to retry with more damping.
#include "addressed.glsl"
#define GPTQ_PC_CHOL
#include "push_constants.glsl"

layout(constant_id = 0) const uint NB = 32;
layout(local_size_x = 64) in;
GPTQ_BUFFER(0, , A, float, a)
GPTQ_BUFFER(1, , Flag, uint, fail_flag)
#ifdef GPTQ_ADDRESSED
#define a GPTQ_AT(A, 0)
#define fail_flag GPTQ_AT(Flag, 1)
#endif

shared float s[NB * NB];

void main() {
    const uint t = gl_LocalInvocationIndex;
    const uint nb = pc.nb, kb = pc.kb, k = pc.k;
    for (uint e = t; e < nb * nb; e += 64u) {
        const uint r = e / nb, c = e % nb;
        s[r * NB + c] = a[(kb + r) * k + kb + c];
    }
    for (uint j = 0u; j < nb; ++j) {
        barrier();
        if (t == 0u) {
            float d = s[j * NB + j];
            if (!(d > 0.0) || isinf(d)) {
                atomicOr(fail_flag[0], 1u);
                d = 1.0;  // keep the rest finite; the host discards this factor
            }
            s[j * NB + j] = sqrt(d);
        }
        barrier();
        const float piv = s[j * NB + j];
        for (uint r = j + 1u + t; r < nb; r += 64u) s[r * NB + j] = s[r * NB + j] / piv;
        barrier();
        const uint rest = nb - j - 1u;
        for (uint e = t; e < rest * rest; e += 64u) {
            const uint r = j + 1u + e / rest, c = j + 1u + e % rest;
            if (c <= r) s[r * NB + c] -= s[r * NB + j] * s[c * NB + j];
        }
    }
    barrier();
    for (uint e = t; e < nb * nb; e += 64u) {
        const uint r = e / nb, c = e % nb;
        if (c <= r) a[(kb + r) * k + kb + c] = s[r * NB + c];
    }
}
