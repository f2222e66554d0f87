#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Y [m x n] = X [m x k] * dequant(Q)^T for small m (decode) on a run-aligned layer: one
// invocation per output feature streams that feature's packed words once (adjacent
// invocations read adjacent words), a 32-position run at a time. A run lies in one group, so
// its scale and zero are read once and the run costs one subtract and one multiply-add per
// code and row: sum_j x_j (q_j - z), scaled by s at the end of the run. The code width and
// the row count are specialization constants, so the decode unrolls into fixed shifts.
// X (gathered through `order`) is staged in shared memory, KCHUNK positions at a time.
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MROWS = 1;     // rows of X handled (>= pc.m)
layout(constant_id = 2) const uint KCHUNK = 256;  // positions staged at once, multiple of 32
layout(constant_id = 3) const uint BITS = 4;
layout(local_size_x_id = 0) in;

shared float xs[MROWS * KCHUNK];

void main() {
    const uint n = gl_GlobalInvocationID.x;
    const bool live = n < pc.n;
    float acc[MROWS];
    [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[m] = 0.0;

    for (uint k0 = 0u; k0 < pc.k; k0 += KCHUNK) {
        const uint kc = min(KCHUNK, pc.k - k0);
        barrier();
        for (uint e = gl_LocalInvocationID.x; e < MROWS * KCHUNK; e += WG) {
            const uint m = e / KCHUNK, kk = e % KCHUNK;
            xs[e] = (m < pc.m && kk < kc) ? x_at(m, k0 + kk) : 0.0;
        }
        barrier();
        if (!live) continue;
        for (uint r = 0u; r < kc; r += 32u) {
            const uint run = (k0 + r) / 32u;
            const uint g = uint(gpos[k0 + r]);
            const float s = scales[g * pc.n + n];
            const float z = float(zeros[g * pc.n + n]);
            uint w[8];
            [[unroll]] for (uint b = 0u; b < 8u; ++b) {
                const uint row = run * BITS + b;
                w[b] = (b < BITS && row < pc.qrows) ? qweight[row * pc.n + n] : 0u;
            }
            float part[MROWS];
            [[unroll]] for (uint m = 0u; m < MROWS; ++m) part[m] = 0.0;
            // Positions past k hold code 0 and a staged x of 0: they add nothing.
            [[unroll]] for (uint j = 0u; j < 32u; ++j) {
                const float wv = float(run_code(w, j, BITS)) - z;
                [[unroll]] for (uint m = 0u; m < MROWS; ++m)
                    part[m] = fma(xs[m * KCHUNK + r + j], wv, part[m]);
            }
            [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[m] = fma(s, part[m], acc[m]);
        }
    }
    if (live)
        [[unroll]] for (uint m = 0u; m < MROWS; ++m)
            if (m < pc.m) y[m * pc.n + n] = acc[m];
}
