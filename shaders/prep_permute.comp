#version 450
#extension GL_GOOGLE_include_directive : require
// Act-order permutation with the dead-column fix folded in (docs/gptq-reference.md §2 steps 2 and 4):
// mode 0: Hp[i][j] = H[perm[i]][perm[j]], with Hp[i][i] = 1 for a dead column;
// mode 1: Wt[i][n] = W[n][perm[i]] (0 for a dead column): the working W is kept transposed
// so that the one-invocation-per-row kernels read adjacent addresses.
#define GPTQ_PC_PREP
#include "push_constants.glsl"

layout(local_size_x = 16, local_size_y = 16) in;
layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { float dst[]; };
layout(std430, binding = 2) readonly buffer Perm { int perm[]; };
layout(std430, binding = 3) readonly buffer Dead { uint dead[]; };

void main() {
    const uint x = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
    if (i >= pc.k) return;
    const uint pi = uint(perm[i]);
    if (pc.mode == 0u) {
        if (x >= pc.k) return;
        const uint pj = uint(perm[x]);
        dst[i * pc.k + x] = (x == i && dead[pi] != 0u) ? 1.0 : src[pi * pc.k + pj];
    } else {
        if (x >= pc.n) return;
        dst[i * pc.n + x] = dead[pi] != 0u ? 0.0 : src[x * pc.k + pi];
    }
}
