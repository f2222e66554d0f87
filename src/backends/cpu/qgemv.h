// The small-M (decode) quantized product: y = x * dequant(Q)^T for 1 <= m <= 8, reading each
// packed qweight word once for all rows and decoding it in registers. Used by cpu_matmul;
// exposed separately so tests can run every instruction-set variant the CPU supports.
#pragma once

#include "core/qlayer.h"

#include <cstdint>

namespace gptq::cpu {

class ThreadPool;

constexpr int64_t kQgemvMaxRows = 8;

enum class QgemvIsa { Auto, Generic, Avx2, Avx512 };

// Whether this CPU can run `isa` (Auto and Generic always can).
bool qgemv_isa_supported(QgemvIsa isa);

// Name of the variant Auto picks ("avx512", "avx2" or "generic"), for logs and benchmarks.
const char *qgemv_kernel_name();

// y [m x n] (row stride ldy) = x [m x k] (fp32, row stride ldx) * dequant(q)^T, fp32
// accumulation, 1 <= m <= kQgemvMaxRows, q.bits in {2, 3, 4, 8}. `isa` must be supported.
//
// Act-order layers (g_idx not non-decreasing) are multiplied through a group-ordered copy of
// their packed codes, made on the first call and cached in q.device (qgemv_group_order.h),
// with x gathered into that order: an act-order layer runs the same kernels as a
// natural-order one, at the cost of a second copy of its packed codes.
//
// Rounding: codes are unpacked per block of 32 / bits codes (32 codes for 3 bits). Where a
// block's codes all share a group, runs of such blocks are summed as s * sum x (q - z), with
// q - z exact in int32 and one rounding per FMA; blocks that mix groups (a natural-order
// layer whose group size is not a multiple of the block) accumulate x * fl(s (q - z)),
// docs/gptq-reference.md's fp32 weight. The padding codes of the group-ordered copy meet
// x = 0 inside a run's sum (0 * (q - z) = 0 exactly, whatever the scale). Every run is then
// added to the output once. A term thus sees at most L + R + 1 roundings for runs of at
// most L codes and R runs, and L + R - 1 <= k, so |y - exact(x, fl(s (q - z)))| <=
// gamma_{k+2} sum |x w|.
void qgemv(const QLayer &q, const float *x, int64_t m, int64_t ldx, float *y, int64_t ldy,
           ThreadPool *pool, QgemvIsa isa = QgemvIsa::Auto);

} // namespace gptq::cpu
