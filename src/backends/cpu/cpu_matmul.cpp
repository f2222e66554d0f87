#include "backends/cpu/cpu_matmul.h"

#include "backends/cpu/convert.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/qgemv.h"
#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <vector>

namespace gptq::cpu {

namespace {

constexpr int64_t kChunkRows = 512;   // rows of x per pass on the GEMM path
constexpr int64_t kTileK = 256;       // dequantized tile: kTileK x tile_cols floats

// One row k of codes for columns [n0, n0 + cols): the word row and shift are the same for the
// whole row, so the loop over columns is a plain vectorisable shift/mask.
inline void code_row(const QLayer &q, int64_t k, int64_t n0, int64_t cols, int32_t *out) {
    const int64_t n = q.n;
    const uint32_t *qw = reinterpret_cast<const uint32_t *>(q.qweight.data());
    if (q.bits != 3) {
        const int per = 32 / q.bits;
        const uint32_t *w = qw + (k / per) * n + n0;
        const int sh = q.bits * int(k % per);
        const uint32_t mask = (1u << q.bits) - 1u;
        for (int64_t c = 0; c < cols; ++c) out[c] = int32_t((w[c] >> sh) & mask);
        return;
    }
    // 3 bits: 32 codes per 3 words; a code may straddle two words (docs/gptq-reference.md §5).
    const int64_t bit = (k / 32) * 96 + (k % 32) * 3;
    const uint32_t *w0 = qw + (bit / 32) * n + n0;
    const int off = int(bit % 32);
    if (off <= 29) {
        for (int64_t c = 0; c < cols; ++c) out[c] = int32_t((w0[c] >> off) & 7u);
    } else {
        const uint32_t *w1 = w0 + n;
        for (int64_t c = 0; c < cols; ++c)
            out[c] = int32_t(((w0[c] >> off) | (w1[c] << (32 - off))) & 7u);
    }
}

void gemm_path(const QLayer &q, const float *x, int64_t m, int64_t ldx, float *y, int64_t ldy,
               ThreadPool *pool) {
    const int64_t threads = pool ? pool->size() : 1;
    // Enough column tiles to keep every thread busy, each a multiple of 16 columns.
    int64_t tile_cols = 256;
    while (tile_cols > 32 && (q.n + tile_cols - 1) / tile_cols < 2 * threads) tile_cols /= 2;
    const int64_t tiles = (q.n + tile_cols - 1) / tile_cols;
    const int64_t tile_k = std::min(kTileK, q.k);
    std::vector<float> wbuf(size_t(threads * tile_k * tile_cols));
    auto task = [&](int64_t t, int thread) {
        const int64_t n0 = t * tile_cols, cols = std::min(tile_cols, q.n - n0);
        float *wt = wbuf.data() + int64_t(thread) * tile_k * tile_cols;
        for (int64_t k0 = 0; k0 < q.k; k0 += tile_k) {
            const int64_t kr = std::min(tile_k, q.k - k0);
            dequant_rows(q, k0, kr, n0, cols, wt, cols);
            sgemm(false, false, m, cols, kr, 1.0f, x + k0, ldx, wt, cols, k0 == 0 ? 0.0f : 1.0f,
                  y + n0, ldy, nullptr);
        }
    };
    if (pool)
        pool->parallel_for(tiles, task);
    else
        for (int64_t t = 0; t < tiles; ++t) task(t, 0);
}

} // namespace

void dequant_rows(const QLayer &q, int64_t k0, int64_t rows, int64_t n0, int64_t cols,
                  float *dst, int64_t ldd) {
    int32_t codes[256];
    for (int64_t i = 0; i < rows; ++i) {
        const int64_t k = k0 + i;
        const int64_t g = q.g_idx[size_t(k)];
        const float *s = q.scales.data() + g * q.n;
        const int32_t *z = q.zeros.data() + g * q.n;
        for (int64_t c0 = 0; c0 < cols; c0 += 256) {
            const int64_t cc = std::min<int64_t>(256, cols - c0);
            code_row(q, k, n0 + c0, cc, codes);
            float *d = dst + i * ldd + c0;
            const float *sc = s + n0 + c0;
            const int32_t *zc = z + n0 + c0;
            for (int64_t c = 0; c < cc; ++c) d[c] = sc[c] * float(codes[c] - zc[c]);
        }
    }
}

void cpu_matmul(const QLayer &q, const void *x, gptq_dtype dtype, int64_t m, int64_t ldx,
                float *y, int64_t ldy, ThreadPool *pool) {
    if (m <= 0 || q.n <= 0) return;
    const int64_t chunk = m <= kQgemvMaxRows ? m : std::min(kChunkRows, m);
    std::vector<float> xbuf;
    if (dtype != GPTQ_DTYPE_F32) xbuf.resize(size_t(chunk * q.k));
    for (int64_t r0 = 0; r0 < m; r0 += chunk) {
        const int64_t rows = std::min(chunk, m - r0);
        const float *xf;
        int64_t ld;
        if (dtype == GPTQ_DTYPE_F32) {
            xf = static_cast<const float *>(x) + r0 * ldx;
            ld = ldx;
        } else {
            rows_to_f32(x, dtype, ldx, r0, rows, q.k, xbuf.data(), q.k);
            xf = xbuf.data();
            ld = q.k;
        }
        if (rows <= kQgemvMaxRows)
            qgemv(q, xf, rows, ld, y + r0 * ldy, ldy, pool);
        else
            gemm_path(q, xf, rows, ld, y + r0 * ldy, ldy, pool);
    }
}

} // namespace gptq::cpu
