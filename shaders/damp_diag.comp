#version 450
#extension GL_GOOGLE_include_directive : require
// A = Hp + damp * I: a fresh damped copy for each Cholesky attempt, so a retry with more
// damping restarts from the clean (permuted, dead-fixed) H.
#include "addressed.glsl"
#define GPTQ_PC_DAMP
#include "push_constants.glsl"

layout(local_size_x = 16, local_size_y = 16) in;
GPTQ_BUFFER(0, readonly, Src, float, src)
GPTQ_BUFFER(1, writeonly, Dst, float, dst)
#ifdef GPTQ_ADDRESSED
#define src GPTQ_AT(Src, 0)
#define dst GPTQ_AT(Dst, 1)
#endif

void main() {
    const uint j = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
    if (i >= pc.k || j >= pc.k) return;
    const float v = src[i * pc.k + j];
    dst[i * pc.k + j] = i == j ? v + pc.damp : v;
}
