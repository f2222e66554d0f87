#version 450
#extension GL_GOOGLE_include_directive : require
// In place: the lower Cholesky factor L2 of Hinv becomes U = L2^T (upper, zeros below), so
// Hinv = U^T U as the column loop expects. Each off-diagonal pair is moved by one invocation.
#include "addressed.glsl"
#define GPTQ_PC_SQUARE
#include "push_constants.glsl"

layout(local_size_x = 16, local_size_y = 16) in;
GPTQ_BUFFER(0, , A, float, a)
#ifdef GPTQ_ADDRESSED
#define a GPTQ_AT(A, 0)
#endif

void main() {
    const uint j = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y, k = pc.k;
    if (i >= k || j >= k || j <= i) return;
    const float v = a[j * k + i];
    a[i * k + j] = v;
    a[j * k + i] = 0.0;
}
