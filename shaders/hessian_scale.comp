#version 450
#extension GL_GOOGLE_include_directive : require
// dst = src * scale: the final H = (2 / tokens) * sum.
#define GPTQ_PC_SCALE
#include "push_constants.glsl"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { float dst[]; };

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (i < pc.count) dst[i] = src[i] * pc.scale;
}
