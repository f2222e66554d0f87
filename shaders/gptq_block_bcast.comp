#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// The GPTQ column loop of gptq_block.comp (columns [c_begin, c_end) of block [i1, i2), one
// invocation per row n), organised for few memory accesses: "left-looking" in groups of G
// columns. A group's G working values of the row sit in registers; first every earlier
// column b of the block (its error e_b, written to `err` by this or an earlier dispatch)
// is applied to all G at once, w_c -= e_b * U[b][c], then the group's columns are quantized
// one after another, each updating the rest of the group. Column c thus receives exactly
// the updates of the reference's rank-1 loop, in the same order (b ascending), with the same
// unfused fp32 operations: the result is bit for bit that of gptq_block.comp. Wt is only
// read (nothing after the block reads its columns). The U values of a step are the same for
// every row: the lanes of a subgroup load them together and pass them by shuffles
// (as bcast.glsl does for quads), so on lavapipe, where each load is a loop over the lanes,
// a step costs two loads for G multiply-subtracts instead of three loads for one.
#include "addressed.glsl"
#define GPTQ_PC_BLOCK
#include "push_constants.glsl"
#include "quantizer_ops.glsl"

layout(constant_id = 0) const uint WG = 32;  // rows per workgroup
layout(constant_id = 1) const uint G = 8;    // columns per group
layout(constant_id = 2) const uint SG = 8;   // subgroup size the U loads are laid out for
layout(local_size_x_id = 0) in;

GPTQ_BUFFER(0, readonly, Wt, float, wt)  // [k][n]
GPTQ_BUFFER(1, readonly, U, float, u)  // [k][k]
GPTQ_BUFFER(2, readonly, Params, vec2, params)  // [g][n]
GPTQ_BUFFER(3, , Codes, uint, codes)  // [ceil(k/4)][n] bytes
GPTQ_BUFFER(4, , Err, float, err)  // [B][n]
GPTQ_BUFFER(5, , Loss, float, loss_out)  // [n]
GPTQ_BUFFER(6, readonly, Perm, int, perm)
#ifdef GPTQ_ADDRESSED
#define wt GPTQ_AT(Wt, 0)
#define u GPTQ_AT(U, 1)
#define params GPTQ_AT(Params, 2)
#define codes GPTQ_AT(Codes, 3)
#define err GPTQ_AT(Err, 4)
#define loss_out GPTQ_AT(Loss, 5)
#define perm GPTQ_AT(Perm, 6)
#endif

const uint NL = (G + SG - 1u) / SG;  // U values each lane loads per step

// uv[j] = U[row][c0 + j] for j < G (columns clamped to the matrix; those values are unused).
void load_u_row(uint row, uint c0, out float uv[G]) {
    const uint base = row * pc.k, last = pc.k - 1u;
    if (gl_SubgroupSize == SG) {
        float mine[NL];
        [[unroll]] for (uint l = 0u; l < NL; ++l)
            mine[l] = u[base + min(c0 + min(gl_SubgroupInvocationID + l * SG, G - 1u), last)];
        [[unroll]] for (uint j = 0u; j < G; ++j) uv[j] = subgroupShuffle(mine[j / SG], j % SG);
    } else {
        [[unroll]] for (uint j = 0u; j < G; ++j) uv[j] = u[base + min(c0 + j, last)];
    }
}

void main() {
    // Rows past n compute on row n - 1 and store nothing: every lane takes part in the
    // shuffles, which need the whole subgroup.
    const uint n = min(gl_GlobalInvocationID.x, pc.n - 1u);
    const bool real_row = gl_GlobalInvocationID.x < pc.n;
    const uint N = pc.n, K = pc.k, G_ = pc.group_cols, i1 = pc.i1;
    const float maxq = float((1u << pc.bits) - 1u);
    float loss = 0.0;
    for (uint c0 = pc.c_begin; c0 < pc.c_end; c0 += G) {
        float wv[G];
        [[unroll]] for (uint j = 0u; j < G; ++j) wv[j] = wt[min(c0 + j, K - 1u) * N + n];
        for (uint b = i1; b < c0; ++b) {
            const float e = err[(b - i1) * N + n];
            float uv[G];
            load_u_row(b, c0, uv);
            [[unroll]] for (uint j = 0u; j < G; ++j) {
                precise float upd = e * uv[j];
                precise float v = wv[j] - upd;
                wv[j] = v;
            }
        }
        [[unroll]] for (uint j = 0u; j < G; ++j) {
            const uint col = c0 + j;
            if (col >= pc.c_end) break;  // uniform
            float uv[G];
            load_u_row(col, c0, uv);
            uint g = 0u;
            if (pc.params_mode == GPTQ_PARAMS_STATIC)
                g = (pc.act_order != 0u ? uint(perm[col]) : col) / G_;
            else if (pc.params_mode == GPTQ_PARAMS_DYNAMIC)
                g = col / G_;
            const vec2 p = params[g * N + n];
            const float w = wv[j], d = uv[j];
            const uint code = quant_code(w, p, maxq);
            precise float q = p.x * (float(code) - p.y);
            precise float diff = w - q;
            const float e = div_rn(diff, d);
            [[unroll]] for (uint jj = j + 1u; jj < G; ++jj) {
                precise float upd = e * uv[jj];
                precise float v = wv[jj] - upd;
                wv[jj] = v;
            }
            precise float l = diff * diff / (d * d) / 2.0;
            loss += l;
            if (real_row) {
                err[(col - i1) * N + n] = e;
                const uint word = (col / 4u) * N + n, sh = 8u * (col % 4u);
                codes[word] = (codes[word] & ~(0xffu << sh)) | (code << sh);
            }
        }
    }
    if (real_row) loss_out[n] += loss;
}
