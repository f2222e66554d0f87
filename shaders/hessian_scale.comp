#version 450
#extension GL_GOOGLE_include_directive : require
// dst = src * scale: the final H = (2 / tokens) * sum.
#include "addressed.glsl"
#define GPTQ_PC_SCALE
#include "push_constants.glsl"

layout(local_size_x = 256) in;
GPTQ_BUFFER(0, readonly, Src, float, src)
GPTQ_BUFFER(1, writeonly, Dst, float, dst)
#ifdef GPTQ_ADDRESSED
#define src GPTQ_AT(Src, 0)
#define dst GPTQ_AT(Dst, 1)
#endif

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i < pc.count) dst[i] = src[i] * pc.scale;
}
