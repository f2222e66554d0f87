#version 450
#extension GL_GOOGLE_include_directive : require
// The GPTQ column loop for columns [c_begin, c_end) of block [i1, i2) of the permuted order
// (docs/gptq-reference.md §3). Rows are independent, so one invocation owns one row n: it quantizes each
// column with its group's parameters (already in `params`), writes the code, scales the
// error by U[col][col] and applies the in-block rank-1 update to the rest of its row of the
// block. When the whole block is one dispatch and fits (BMAX columns), the row's block lives
// in shared memory; otherwise it is updated in place in Wt (the host splits wide blocks into
// several dispatches: llvmpipe ends an invocation after 65535 loop iterations).
// The same fp32 operations as the CPU reference, in the same order, marked precise so that
// no FMA contraction changes a rounding.
#include "addressed.glsl"
#define GPTQ_PC_BLOCK
#include "push_constants.glsl"
#include "quantizer_ops.glsl"

layout(constant_id = 0) const uint WG = 32;
layout(constant_id = 1) const uint BMAX = 128;
layout(local_size_x_id = 0) in;

GPTQ_BUFFER(0, , Wt, float, wt)  // [k][n]
GPTQ_BUFFER(1, readonly, U, float, u)  // [k][k]
GPTQ_BUFFER(2, readonly, Params, vec2, params)  // [g][n]
GPTQ_BUFFER(3, , Codes, uint, codes)  // [ceil(k/4)][n] bytes
GPTQ_BUFFER(4, writeonly, Err, float, err_out)  // [B][n]
GPTQ_BUFFER(5, , Loss, float, loss_out)  // [n]
GPTQ_BUFFER(6, readonly, Perm, int, perm)
#ifdef GPTQ_ADDRESSED
#define wt GPTQ_AT(Wt, 0)
#define u GPTQ_AT(U, 1)
#define params GPTQ_AT(Params, 2)
#define codes GPTQ_AT(Codes, 3)
#define err_out GPTQ_AT(Err, 4)
#define loss_out GPTQ_AT(Loss, 5)
#define perm GPTQ_AT(Perm, 6)
#endif

shared float w1s[BMAX * WG];

void main() {
    const uint n = gl_GlobalInvocationID.x, lid = gl_LocalInvocationID.x;
    if (n >= pc.n) return;  // no barriers below: rows never share data
    const uint N = pc.n, K = pc.k, G = pc.group_cols, i1 = pc.i1, i2 = pc.i2;
    const float maxq = float((1u << pc.bits) - 1u);
    const bool in_shared = pc.c_begin == i1 && pc.c_end == i2 && i2 - i1 <= BMAX;
    if (in_shared)
        for (uint c = i1; c < i2; ++c) w1s[(c - i1) * WG + lid] = wt[c * N + n];

    float loss = 0.0;
    for (uint col = pc.c_begin; col < pc.c_end; ++col) {
        uint g = 0u;
        if (pc.params_mode == GPTQ_PARAMS_STATIC)
            g = (pc.act_order != 0u ? uint(perm[col]) : col) / G;
        else if (pc.params_mode == GPTQ_PARAMS_DYNAMIC)
            g = col / G;
        const vec2 p = params[g * N + n];
        const float w = in_shared ? w1s[(col - i1) * WG + lid] : wt[col * N + n];
        const float d = u[col * K + col];
        const uint code = quant_code(w, p, maxq);
        precise float q = p.x * (float(code) - p.y);
        precise float diff = w - q;
        const float e = div_rn(diff, d);
        for (uint c = col + 1u; c < i2; ++c) {
            precise float upd = e * u[col * K + c];
            if (in_shared) {
                precise float v = w1s[(c - i1) * WG + lid] - upd;
                w1s[(c - i1) * WG + lid] = v;
            } else {
                precise float v = wt[c * N + n] - upd;
                wt[c * N + n] = v;
            }
        }
        err_out[(col - i1) * N + n] = e;
        precise float l = diff * diff / (d * d) / 2.0;
        loss += l;
        const uint word = (col / 4u) * N + n, sh = 8u * (col % 4u);
        codes[word] = (codes[word] & ~(0xffu << sh)) | (code << sh);
    }
    loss_out[n] += loss;
}
