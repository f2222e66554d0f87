// Small-M quantized product (see qgemv.h). Work is split into column tiles (one task each);
// within a tile the K dimension is walked as precomputed runs of packed blocks, and the
// kernels in qgemv_kernel.inc are compiled once per instruction set and chosen at run time,
// so the library itself stays built for the baseline ISA.
#include "backends/cpu/qgemv.h"

#include "backends/cpu/qgemv_group_order.h"
#include "backends/cpu/thread_pool.h"
#include "core/error.h"
#include "core/pack.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#endif

namespace gptq::cpu {

namespace {

template <int Bits>
constexpr int kBlockCodes = Bits == 3 ? 32 : 32 / Bits;  // codes decoded from one block
template <int Bits>
constexpr int kBlockWords = Bits == 3 ? 3 : 1;           // qweight rows per block

// Output columns per task. A task reads its columns of every qweight row: 1024 columns are
// 4 KB of a row at 4 bits, long enough runs for the hardware prefetcher (256-column tiles
// left about a tenth of the time to memory stalls at 4096 x 14336). With more rows of x the
// M x cols outputs would crowd L1, and a small layer needs narrower tiles to feed every
// thread; the width never changes a result (every column sums its own runs in order).
constexpr int64_t kTileCols = 1024;
constexpr int64_t kMinTileCols = 256;

// The outputs of one tile (on the stack): m <= 2 rows of up to 1024 columns or up to 8 rows
// of 256, both 8 KB.
constexpr int64_t kTileOutputs = kQgemvMaxRows * kMinTileCols;
static_assert(2 * kTileCols <= kTileOutputs, "qgemv tile outputs");

int64_t tile_cols(int64_t n, int64_t m, int64_t threads) {
    int64_t cols = m <= 2 ? kTileCols : kMinTileCols;
    while (cols > kMinTileCols && (n + cols - 1) / cols < 2 * threads) cols /= 2;
    return cols;
}
constexpr int64_t kMaxRunBlocks = 16;  // caps a run: its rows are prefetched as a batch

// Consecutive packed blocks [b0, b1) whose codes all belong to group g, or, with g = -1,
// blocks that each mix groups.
struct Run {
    int64_t b0, b1;
    int32_t g;
};

struct Job {
    int64_t n;
    const int32_t *qweight, *zeros, *g_idx;
    const float *scales;
    const float *x;  // m rows (the runs cover whole blocks inside k only)
    int64_t ldx;
    const Run *runs;
    int64_t n_runs;
};

using TileFn = int64_t (*)(const Job &, int64_t n0, int64_t cols, float *out, int64_t ldo);

// The fallback for CPUs without AVX2 takes one row per call (it rereads qweight for each
// row) so that it adds only a few kernels to this file.
namespace generic {
constexpr int W = 4, kAccRegs = 8, kMaxRows = 1;
#define QGEMV_TARGET
#define QGEMV_PERMUTE16 0
#include "backends/cpu/qgemv_kernel.inc"
#undef QGEMV_PERMUTE16
#undef QGEMV_TARGET
} // namespace generic

// GPTQ_CPU_GENERIC_ONLY (CMake GPTQ_CPU_ISA_VARIANTS=OFF) keeps only the portable path:
// the sanitizer build compiles in minutes instead of tens of minutes.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#define QGEMV_X86 1
namespace avx2 {
constexpr int W = 8, kAccRegs = 8, kMaxRows = 8;
#define QGEMV_TARGET __attribute__((target("avx2,fma")))
#define QGEMV_PERMUTE16 0
#include "backends/cpu/qgemv_kernel.inc"
#undef QGEMV_PERMUTE16
#undef QGEMV_TARGET
} // namespace avx2

namespace avx512 {
constexpr int W = 16, kAccRegs = 16, kMaxRows = 8;
#define QGEMV_TARGET __attribute__((target("avx512f,fma")))
#define QGEMV_PERMUTE16 1  // vpermps: a 16-entry table lookup per lane
#include "backends/cpu/qgemv_kernel.inc"
#undef QGEMV_PERMUTE16
#undef QGEMV_TARGET
} // namespace avx512
#endif

QgemvIsa best_isa() {
    static const QgemvIsa isa = [] {
#ifdef QGEMV_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return QgemvIsa::Avx512;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return QgemvIsa::Avx2;
#endif
        return QgemvIsa::Generic;
    }();
    return isa;
}

TileFn pick(QgemvIsa isa, int bits, int64_t m) {
    switch (isa) {
#ifdef QGEMV_X86
    case QgemvIsa::Avx512: return avx512::pick(bits, m);
    case QgemvIsa::Avx2: return avx2::pick(bits, m);
#endif
    default: return generic::pick(bits, m);
    }
}

// Splits the whole blocks of K (k / per of them) into runs: a block is uniform if its codes
// share a group. A last, partial block is left to tail_codes.
std::vector<Run> make_runs(const std::vector<int32_t> &g_idx, int64_t k, int64_t per) {
    std::vector<Run> runs;
    const int64_t blocks = k / per;
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t k0 = b * per, k1 = k0 + per;
        int32_t g = g_idx[size_t(k0)];
        for (int64_t i = k0 + 1; i < k1 && g >= 0; ++i)
            if (g_idx[size_t(i)] != g) g = -1;
        if (!runs.empty() && runs.back().g == g && runs.back().b1 - runs.back().b0 < kMaxRunBlocks)
            ++runs.back().b1;
        else
            runs.push_back({b, b + 1, g});
    }
    return runs;
}

// Codes [k0, k1) of columns [c0, c1), one code at a time: docs/gptq-reference.md's fp32 weight per code,
// summed over k in order into out. Serves the columns the vector kernels left over (fewer
// than one column group, all of K) and the codes of a last partial block (every column):
// only real codes are touched, so no padding code ever meets a scale (a huge finite scale
// times a padding code can overflow, and 0 * inf would be NaN).
void scalar_codes(const QLayer &q, const float *x, int64_t m, int64_t ldx, int64_t k0,
                  int64_t k1, int64_t c0, int64_t c1, float *out, int64_t ldo) {
    for (int64_t c = c0; c < c1; ++c) {
        for (int64_t kk = k0; kk < k1; ++kk) {
            const int64_t g = q.g_idx[size_t(kk)];
            const uint32_t code = packed_code_at(q.qweight.data() + c, q.n, kk, q.bits);
            const float w = q.scales[size_t(g * q.n + c)] *
                            float(int32_t(code) - q.zeros[size_t(g * q.n + c)]);
            for (int64_t r = 0; r < m; ++r) out[r * ldo + (c - c0)] += x[r * ldx + kk] * w;
        }
    }
}

} // namespace

bool qgemv_isa_supported(QgemvIsa isa) {
    switch (isa) {
    case QgemvIsa::Avx512: return best_isa() == QgemvIsa::Avx512;
    case QgemvIsa::Avx2: return best_isa() != QgemvIsa::Generic;
    default: return true;
    }
}

const char *qgemv_kernel_name() {
    switch (best_isa()) {
    case QgemvIsa::Avx512: return "avx512";
    case QgemvIsa::Avx2: return "avx2";
    default: return "generic";
    }
}

void qgemv(const QLayer &q, const float *x, int64_t m, int64_t ldx, float *y, int64_t ldy,
           ThreadPool *pool, QgemvIsa isa) {
    if (m <= 0 || q.n <= 0) return;
    if (m > kQgemvMaxRows) fail(GPTQ_ERR_INTERNAL, "qgemv: %lld rows (at most 8)", (long long)m);
    if (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8)
        fail(GPTQ_ERR_UNSUPPORTED, "qgemv: %d-bit codes are not supported", q.bits);
    // Act-order layers are read through their group-ordered copy (qgemv_group_order.h) with
    // x gathered to match: the kernels then see group-uniform blocks only. L and xk are what
    // the vector kernels read (with q's scales and zeros); the scalar columns read the
    // source layer as it is.
    const GroupOrderedLayer *ordered = group_ordered(q);
    std::vector<float> xgather;
    const QLayer &L = ordered ? ordered->layer : q;
    const float *xk = x;
    int64_t ldxk = ldx;
    if (ordered) {
        xgather.resize(size_t(m * L.k));
        gather_x(*ordered, x, m, ldx, xgather.data());
        xk = xgather.data();
        ldxk = L.k;
    }
    const int64_t per = L.bits == 3 ? 32 : 32 / L.bits;
    // The kernels read whole blocks only (no test for the end of K); codes past the last
    // whole block go through scalar_codes.
    const int64_t kfull = L.k / per * per;
    const std::vector<Run> runs = make_runs(L.g_idx, L.k, per);
    if (isa == QgemvIsa::Auto) isa = best_isa();
    const int64_t step = isa == QgemvIsa::Generic ? 1 : m;  // rows per kernel call
    const TileFn fn = pick(isa, L.bits, step);
    const int64_t tc = tile_cols(L.n, m, pool ? pool->size() : 1);
    const int64_t tiles = (L.n + tc - 1) / tc;
    auto task = [&](int64_t t, int) {
        const int64_t n0 = t * tc, cols = std::min(tc, L.n - n0);
        alignas(64) float out[kTileOutputs];
        std::fill(out, out + m * tc, 0.0f);
        int64_t done = 0;
        for (int64_t r0 = 0; r0 < m; r0 += step) {
            const Job job{L.n,           L.qweight.data(), q.zeros.data(),
                          L.g_idx.data(), q.scales.data(),  xk + r0 * ldxk,
                          ldxk,          runs.data(),      int64_t(runs.size())};
            done = fn(job, n0, cols, out + r0 * tc, tc);
        }
        if (!ordered)  // the ordered copy is whole blocks
            scalar_codes(q, x, m, ldx, kfull, q.k, n0, n0 + done, out, tc);
        scalar_codes(q, x, m, ldx, 0, q.k, n0 + done, n0 + cols, out + done, tc);
        for (int64_t r = 0; r < m; ++r)
            std::copy(out + r * tc, out + r * tc + cols, y + r * ldy + n0);
    };
    if (pool)
        pool->parallel_for(tiles, task);
    else
        for (int64_t t = 0; t < tiles; ++t) task(t, 0);
}

} // namespace gptq::cpu
