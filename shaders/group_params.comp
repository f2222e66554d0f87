#version 450
#extension GL_GOOGLE_include_directive : require
// Quantizer parameters of groups [g0, g0 + g_count) for every row: one invocation per
// (row n, group g) over columns [g*G, min((g+1)*G, k)), reading either the natural W [n x k]
// (per-row and static groups, optionally with dead columns as zero) or the working
// transposed Wt [k x n] (dynamic groups, at the start of their block).
// The MSE search runs over shrink steps [s_begin, s_end) per dispatch and keeps the best
// candidate in `params`/`best_err` between dispatches: the host splits long searches so no
// invocation loops too long (llvmpipe silently ends an invocation after 65535 iterations).
#include "addressed.glsl"
#define GPTQ_PC_GROUP_PARAMS
#include "push_constants.glsl"

layout(local_size_x = 64) in;
GPTQ_BUFFER(0, readonly, W, float, w)
GPTQ_BUFFER(1, , Params, vec2, params)  // [g][n]
GPTQ_BUFFER(2, , BestErr, float, best_err)  // [g][n]
GPTQ_BUFFER(3, readonly, Dead, uint, dead)
GPTQ_BUFFER(4, readonly, MseP, float, mse_p)
#ifdef GPTQ_ADDRESSED
#define w GPTQ_AT(W, 0)
#define params GPTQ_AT(Params, 1)
#define best_err GPTQ_AT(BestErr, 2)
#define dead GPTQ_AT(Dead, 3)
#define mse_p GPTQ_AT(MseP, 4)
#endif

uint g_row, g_c0;
float load_x(uint i) {
    const uint c = g_c0 + i;
    if (pc.transposed != 0u) return w[c * pc.n + g_row];
    return (pc.use_dead != 0u && dead[c] != 0u) ? 0.0 : w[g_row * pc.k + c];
}
#define QX(i) load_x(i)
#include "quantizer.glsl"

void main() {
    const uint n = gl_GlobalInvocationID.x, g = pc.g0 + gl_GlobalInvocationID.y;
    if (n >= pc.n || gl_GlobalInvocationID.y >= pc.g_count) return;
    g_row = n;
    g_c0 = g * pc.group_cols;
    const uint len = min(pc.group_cols, pc.k - g_c0);
    const bool sym = pc.sym != 0u;
    const vec2 range = slice_range(len, sym);
    const vec2 plain = params_from_range(range.x, range.y, pc.bits, sym);
    const uint at = g * pc.n + n;
    if (pc.s_end == 0u) {
        params[at] = plain;
        return;
    }
    vec2 best = pc.s_begin == 0u ? plain : params[at];
    float best_e = pc.s_begin == 0u ? 1.0 / 0.0 : best_err[at];
    for (uint s = pc.s_begin; s < pc.s_end; ++s) {
        const float p = mse_p[s];
        precise float lo = p * range.x;
        precise float hi = p * range.y;
        vec2 cand = params_from_range(lo, hi, pc.bits, sym);
        if (sym) cand.y = plain.y;  // the symmetric search keeps zero = (maxq+1)/2
        const float e = clip_error(len, cand, pc.bits, pc.mse_norm);
        if (e < best_e) {
            best_e = e;
            best = cand;
        }
    }
    params[at] = best;
    best_err[at] = best_e;
}
