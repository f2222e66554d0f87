#version 450
#extension GL_GOOGLE_include_directive : require
// Act-order permutation with the dead-column fix folded in (docs/gptq-reference.md §2 steps 2 and 4):
// mode 0: Hp[i][j] = H[perm[i]][perm[j]], with Hp[i][i] = 1 for a dead column;
// mode 1: Wt[i][n] = W[n][perm[i]] (0 for a dead column): the working W is kept transposed
// so that the one-invocation-per-row kernels read adjacent addresses.
#include "addressed.glsl"
#define GPTQ_PC_PREP
#include "push_constants.glsl"

layout(local_size_x = 16, local_size_y = 16) in;
GPTQ_BUFFER(0, readonly, Src, float, src)
GPTQ_BUFFER(1, writeonly, Dst, float, dst)
GPTQ_BUFFER(2, readonly, Perm, int, perm)
GPTQ_BUFFER(3, readonly, Dead, uint, dead)
#ifdef GPTQ_ADDRESSED
#define src GPTQ_AT(Src, 0)
#define dst GPTQ_AT(Dst, 1)
#define perm GPTQ_AT(Perm, 2)
#define dead GPTQ_AT(Dead, 3)
#endif

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
