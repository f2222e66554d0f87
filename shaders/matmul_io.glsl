// Bindings shared by the matmul kernels. The resident layer stores its k positions sorted
// by group (act-order layers are reordered once at upload), so:
//   qweight              packed codes of the sorted positions: packed row r (= run * bits +
//                        word) of feature f at qword(r, f, bits), features in blocks of
//                        GPTQ_QWEIGHT_BLOCK and in a block one feature's words of a run
//                        adjacent ([n / B][runs][B][bits]), so a workgroup of adjacent
//                        features streams one contiguous range (few pages, whole cache
//                        lines) and a feature's run is one vector load
//   gpos    [k]          group of each sorted position (non-decreasing)
//   x       [m][ldx]     X as fp32 in sorted-position order (the host gathers and converts
//                        each row when it stages it), rows zero-padded to whole 32-position
//                        runs, so a run never reads past its row
// Scales and zeros: sz [n_groups][n]. When every 32-position run lies in one group (the
// layer's runs_aligned flag on the host), kernels may read gpos once per run. A layer larger
// than the device's storage-buffer range is split into slices of whole runs, each bound as
// a layer of its own (gpos relative to the slice's first group; X read from the slice's
// first position, pc.xoff).
#ifndef GPTQ_MATMUL_IO_GLSL
#define GPTQ_MATMUL_IO_GLSL

layout(std430, binding = 0) readonly buffer QWeight { uint qweight[]; };
// (scale, zero point) of each [group][feature], the zero as a float (exact: a small integer),
// one load for both.
layout(std430, binding = 1) readonly buffer Params { vec2 sz[]; };
layout(std430, binding = 2) readonly buffer GPos { int gpos[]; };
layout(std430, binding = 3) readonly buffer X { float x[]; };
layout(std430, binding = 4) buffer Y { float y[]; };

// Index in qweight of packed row `row` of feature `feat` (see above; pc.qrows is a multiple
// of bits).
uint qword(uint row, uint feat, uint bits) {
    const uint run = row / bits;
    return ((feat / GPTQ_QWEIGHT_BLOCK) * pc.qrows + run * bits) * GPTQ_QWEIGHT_BLOCK +
           (feat % GPTQ_QWEIGHT_BLOCK) * bits + (row - run * bits);
}

// Row m of X at sorted position p of this slice.
float x_at(uint m, uint p) { return x[m * pc.ldx + pc.xoff + p]; }

// Stores one output: a layer too large for one storage-buffer binding is multiplied a
// slice of positions at a time, every slice after the first adding to Y.
void store_y(uint i, float v) {
    y[i] = pc.accumulate != 0u ? y[i] + v : v;
}

#endif
