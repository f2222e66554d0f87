// Tiles of output rows (qweight columns), one task each: every word of a tile row is packed
// from that row's contiguous codes, and a tile writes whole 64-byte runs of qweight rows.
#include "backends/cpu/cpu_pack.h"

#include "backends/cpu/thread_pool.h"
#include "core/pack.h"

#include <algorithm>

namespace gptq::cpu {

namespace {

constexpr int64_t kTileRows = 16;  // 16 int32 = one cache line of a qweight row

// Word w of one row's codes for 2, 4 and 8 bits: codes [w * per, w * per + per) from bit 0
// up, the codes past k (the padding of the last word) zero.
inline uint32_t pack_word(const uint8_t *row, int64_t k, int64_t w, int bits) {
    const int per = 32 / bits;
    const int64_t c0 = w * per, c1 = std::min(k, c0 + per);
    uint32_t v = 0;
    for (int64_t c = c0; c < c1; ++c) v |= uint32_t(row[c]) << (bits * int(c - c0));
    return v;
}

} // namespace

std::vector<int32_t> pack_qweight(const uint8_t *codes, int64_t n, int64_t k, int bits,
                                  ThreadPool *pool) {
    const int64_t words = packed_len(k, bits);
    std::vector<int32_t> out(size_t(words * n));
    const int64_t tiles = (n + kTileRows - 1) / kTileRows;
    const int64_t threads = pool ? pool->size() : 1;
    std::vector<int32_t> scratch(bits == 3 ? size_t(threads * kTileRows * words) : 0);
    auto task = [&](int64_t t, int thread) {
        const int64_t r0 = t * kTileRows, rows = std::min(kTileRows, n - r0);
        if (bits == 3) {
            // Codes straddle words: core's packer, then the tile transposed into place.
            int32_t *tmp = scratch.data() + thread * kTileRows * words;
            pack_cols(codes + r0 * k, rows, k, bits, tmp);
            for (int64_t w = 0; w < words; ++w)
                for (int64_t r = 0; r < rows; ++r)
                    out[size_t(w * n + r0 + r)] = tmp[r * words + w];
            return;
        }
        for (int64_t w = 0; w < words; ++w)
            for (int64_t r = 0; r < rows; ++r)
                out[size_t(w * n + r0 + r)] = int32_t(pack_word(codes + (r0 + r) * k, k, w, bits));
    };
    if (pool)
        pool->parallel_for(tiles, task);
    else
        for (int64_t t = 0; t < tiles; ++t) task(t, 0);
    return out;
}

} // namespace gptq::cpu
