#version 450
#extension GL_GOOGLE_include_directive : require
// Y [m x n] = X [m x k] * dequant(Q)^T for small m (decode, m <= 8). Memory-bound: one
// invocation per output feature n streams that feature's packed codes once (adjacent
// invocations read adjacent qweight words), dequantizes in registers and feeds all m rows;
// X chunks are shared by the workgroup. The group is looked up per position, so this kernel
// serves layers whose groups do not align with 32-position runs (matmul_gemv_runs is the
// fast path for the others).
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint KCHUNK = 256;  // multiple of 32
layout(local_size_x_id = 0) in;


const uint MAXM = 8u;
shared float xs[MAXM * KCHUNK];

void main() {
    const uint n = gl_GlobalInvocationID.x;
    const bool live = n < pc.n;
    float acc[MAXM];
    for (uint m = 0u; m < MAXM; ++m) acc[m] = 0.0;

    for (uint k0 = 0u; k0 < pc.k; k0 += KCHUNK) {
        const uint kc = min(KCHUNK, pc.k - k0);
        barrier();
        for (uint e = gl_LocalInvocationID.x; e < pc.m * KCHUNK; e += WG) {
            const uint m = e / KCHUNK, kk = e % KCHUNK;
            xs[e] = kk < kc ? x_at(m, k0 + kk) : 0.0;
        }
        barrier();
        if (!live) continue;
        if (pc.bits != 3u) {
            // 2/4/8 bits: whole codes per word, so each word is decoded by shifts alone
            // (no dynamically indexed arrays, which llvmpipe spills to memory).
            const uint per = 32u / pc.bits, mask = (1u << pc.bits) - 1u;
            for (uint r = 0u; r < kc; r += per) {
                const uint word = qweight[qword((k0 + r) / per, n, pc.bits)];
                const uint jn = min(per, kc - r);
                for (uint j = 0u; j < jn; ++j) {
                    const uint g = uint(gpos[k0 + r + j]);
                    const int code = int((word >> (pc.bits * j)) & mask);
                    const vec2 p = sz[g * pc.n + n];
                    const float wv = p.x * (float(code) - p.y);
                    for (uint m = 0u; m < MAXM; ++m)
                        if (m < pc.m) acc[m] += xs[m * KCHUNK + r + j] * wv;
                }
            }
            continue;
        }
        for (uint r = 0u; r < kc; r += 32u) {  // 3 bits: 32-code runs of 3 words
            const uint run = (k0 + r) / 32u;
            uint w[8];
            for (uint b = 0u; b < 8u; ++b) {
                const uint row = run * pc.bits + b;
                w[b] = (b < pc.bits && row < pc.qrows) ? qweight[qword(row, n, pc.bits)] : 0u;
            }
            const uint jn = min(32u, kc - r);
            for (uint j = 0u; j < jn; ++j) {
                const uint g = uint(gpos[k0 + r + j]);
                const vec2 p = sz[g * pc.n + n];
                const float wv = p.x * (float(run_code(w, j, pc.bits)) - p.y);
                for (uint m = 0u; m < MAXM; ++m)
                    if (m < pc.m) acc[m] += xs[m * KCHUNK + r + j] * wv;
            }
        }
    }
    if (live)
        for (uint m = 0u; m < pc.m; ++m) store_y(m * pc.n + n, acc[m]);
}
