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
#include "matmul_gemv_runs.glsl"
