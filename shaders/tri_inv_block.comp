#version 450
#extension GL_GOOGLE_include_directive : require
// Blocked L^-1, step 2 for row block [r0, r0+nb): forward substitution inside the block,
// one invocation per column j < r0+nb:
//   Linv[i][j] = -(T[i][j] + sum_{p=max(j,r0)}^{i-1} L[i][p] Linv[p][j]) / L[i][i]   (i > j)
//   Linv[i][i] = 1 / L[i][i],  Linv[i][j] = 0 above the diagonal.
#include "addressed.glsl"
#define GPTQ_PC_TRI_INV
#include "push_constants.glsl"

layout(local_size_x = 64) in;
GPTQ_BUFFER(0, readonly, L, float, l)
GPTQ_BUFFER(1, , Linv, float, li)
#ifdef GPTQ_ADDRESSED
#define l GPTQ_AT(L, 0)
#define li GPTQ_AT(Linv, 1)
#endif

void main() {
    const uint j = gl_GlobalInvocationID.x, k = pc.k, r0 = pc.r0;
    const uint r1 = min(r0 + pc.nb, k);
    if (j >= r1) return;
    for (uint i = r0; i < r1; ++i) {
        if (i < j) {
            li[i * k + j] = 0.0;
        } else if (i == j) {
            li[i * k + i] = 1.0 / l[i * k + i];
        } else {
            float s = j < r0 ? li[i * k + j] : 0.0;
            for (uint p = max(j, r0); p < i; ++p) s += l[i * k + p] * li[p * k + j];
            li[i * k + j] = -s / l[i * k + i];
        }
    }
    // Columns of this block are zero above it too.
    if (j >= r0)
        for (uint i = 0u; i < r0; ++i) li[i * k + j] = 0.0;
}
