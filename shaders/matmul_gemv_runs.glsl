// Body of matmul_gemv_runs.comp and matmul_gemv_runs_shuffle.comp (which defines
// GPTQ_RUNS_SHUFFLE and needs subgroup shuffles). See matmul_gemv_runs.comp.
#define GPTQ_PC_MATMUL
#include "push_constants.glsl"
#include "common.glsl"
#include "packed.glsl"
#include "matmul_io.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MROWS = 1;     // rows of X handled (>= pc.m)
layout(constant_id = 2) const uint KCHUNK = 256;  // positions staged at once, multiple of 32
layout(constant_id = 3) const uint BITS = 4;
// Shuffle variant only: the subgroup size the x windows are laid out for (a power of two,
// 4..128). A dispatch whose subgroups turn out to have another size takes the shared-memory
// path, so the result never depends on it.
layout(constant_id = 4) const uint SG = 8;
// Features per invocation (WG apart, so reads stay coalesced): each X value read serves NF
// features, which matters where every shared-memory read is a gather (CPU implementations).
layout(constant_id = 5) const uint NF = 1;
layout(local_size_x_id = 0) in;

shared float xs[MROWS * KCHUNK];

#ifdef GPTQ_RUNS_SHUFFLE
// part[f][m] += sum_j x[m][r + j] (code_fj - z_f) for the 32 positions of a run, x taken
// from the staged chunk SG positions per load: lane l loads position l of each window and
// the others' values come to every lane by shuffles with constant lane indices. On a CPU
// implementation this turns 32 scalar gathers per run and row into 32 / SG.
void run_dot_shuffle(uint r, uint w[NF][8], float z[NF], inout float part[NF][MROWS]) {
    const uint lane = gl_SubgroupInvocationID;
    const uint WINS = SG >= 32u ? 1u : 32u / SG;
    [[unroll]] for (uint m = 0u; m < MROWS; ++m) {
        float xv[8];
        [[unroll]] for (uint v = 0u; v < 8u; ++v)
            xv[v] = (v < WINS && lane < 32u) ? xs[m * KCHUNK + r + v * SG + lane] : 0.0;
        [[unroll]] for (uint j = 0u; j < 32u; ++j) {
            const float xj = subgroupShuffle(xv[j / SG], j % SG);
            [[unroll]] for (uint f = 0u; f < NF; ++f)
                part[f][m] = fma(xj, float(run_code(w[f], j, BITS)) - z[f], part[f][m]);
        }
    }
}
#endif

void main() {
    // Lanes past the last feature keep running on the last feature's data (their result is
    // dropped): the shuffle path needs every lane of a subgroup.
    const uint first = gl_WorkGroupID.x * WG * NF + gl_LocalInvocationID.x;
    uint n[NF];
    [[unroll]] for (uint f = 0u; f < NF; ++f) n[f] = min(first + f * WG, pc.n - 1u);
#ifdef GPTQ_RUNS_SHUFFLE
    const bool shuffle = gl_SubgroupSize == SG;
#else
    const bool shuffle = false;
#endif
    float acc[NF][MROWS];
    [[unroll]] for (uint f = 0u; f < NF; ++f)
        [[unroll]] for (uint m = 0u; m < MROWS; ++m) acc[f][m] = 0.0;

    for (uint k0 = 0u; k0 < pc.k; k0 += KCHUNK) {
        const uint kc = min(KCHUNK, pc.k - k0);
        barrier();
        for (uint e = gl_LocalInvocationID.x; e < MROWS * KCHUNK; e += WG) {
            const uint m = e / KCHUNK, kk = e % KCHUNK;
            xs[e] = (m < pc.m && kk < kc) ? x_at(m, k0 + kk) : 0.0;
        }
        barrier();
        for (uint r = 0u; r < kc; r += 32u) {
            const uint run = (k0 + r) / 32u;
            const uint g = uint(gpos[k0 + r]);
            float s[NF], z[NF];
            uint w[NF][8];
            [[unroll]] for (uint f = 0u; f < NF; ++f) {
                const vec2 p = sz[g * pc.n + n[f]];
                s[f] = p.x;
                z[f] = p.y;
                [[unroll]] for (uint b = 0u; b < 8u; ++b) {
                    const uint row = run * BITS + b;
                    w[f][b] = (b < BITS && row < pc.qrows) ? qweight[qword(row, n[f], BITS)] : 0u;
                }
            }
            float part[NF][MROWS];
            [[unroll]] for (uint f = 0u; f < NF; ++f)
                [[unroll]] for (uint m = 0u; m < MROWS; ++m) part[f][m] = 0.0;
            // Positions past k hold code 0 and a staged x of 0: they add nothing.
#ifdef GPTQ_RUNS_SHUFFLE
            if (shuffle) {
                run_dot_shuffle(r, w, z, part);
            } else
#endif
            {
                [[unroll]] for (uint j = 0u; j < 32u; ++j) {
                    float wv[NF];
                    [[unroll]] for (uint f = 0u; f < NF; ++f)
                        wv[f] = float(run_code(w[f], j, BITS)) - z[f];
                    [[unroll]] for (uint m = 0u; m < MROWS; ++m) {
                        const float xj = xs[m * KCHUNK + r + j];
                        [[unroll]] for (uint f = 0u; f < NF; ++f)
                            part[f][m] = fma(xj, wv[f], part[f][m]);
                    }
                }
            }
            [[unroll]] for (uint f = 0u; f < NF; ++f)
                [[unroll]] for (uint m = 0u; m < MROWS; ++m)
                    acc[f][m] = fma(s[f], part[f][m], acc[f][m]);
        }
    }
    [[unroll]] for (uint f = 0u; f < NF; ++f)
        if (first + f * WG < pc.n)
            [[unroll]] for (uint m = 0u; m < MROWS; ++m)
                if (m < pc.m) store_y(m * pc.n + n[f], acc[f][m]);
}
