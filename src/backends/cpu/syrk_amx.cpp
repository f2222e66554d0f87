// AMX symmetric rank-k update (see syrk_amx.h for the bf16 split and its accuracy).
//
// Per chunk of up to 1024 tokens the chunk is packed once, then every 32 x 32 block of the
// lower triangle is summed in four 16 x 16 accumulator tiles (TDPBF16PS: 16 x 16 outputs,
// 32 tokens deep) and added to H. The packed copies, per part and per 16-feature block:
//   B side: for each pair of tokens (2r, 2r+1), 16 features as bf16 pairs (token 2r in the
//           low half of each 32-bit lane): the VNNI layout TDPBF16PS wants for its B operand,
//           one contiguous 1 KiB tile per 32 tokens. Packed for the whole chunk.
//   A side: the same 16 x 16 matrix of 32-bit lanes transposed, i.e. 16 feature rows of 32
//           tokens: the A operand, also one contiguous 1 KiB tile per 32 tokens. Made from
//           the B side by each task for its own band of rows only, into a per-thread buffer
//           that stays in L2.
// Token and feature padding (rows up to a multiple of 32, k up to a multiple of 32) is zero
// and adds exact zeros; only elements inside k x k are written back.
//
// Inf/NaN: gptq_hessian_add refuses non-finite activations and sums of squares that could
// overflow fp32, and no part exceeds |x| (h truncates), so no product or sum here overflows.
//
// Denormals: TDPBF16PS treats bf16 denormal inputs as zero and flushes denormal results.
// Parts below 2^-126 are dropped, which only happens for activations below about 2^-103
// (a nonzero part is at least x's last bit, 2^-23 |x|), and products below 2^-126 (about
// 1e-38) are flushed: absolute errors far below fp32's relative rounding of any Hessian entry
// that is not itself ~1e-38.
#include "backends/cpu/syrk_amx.h"

#include "backends/cpu/thread_pool.h"
#include "core/error.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own undefined-vector
// placeholders (a false positive of the headers, not of this file), as in column_block.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#if defined(__x86_64__) && defined(__linux__) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define GPTQ_AMX 1
#endif

namespace gptq::cpu {

namespace {

// Below these the fp32 kernel is as fast or faster (the AMX path pads tokens and features to
// multiples of 32, repacks the chunk and runs six products per token): a sweep of k = 64..1024
// x rows = 16..256 on this Emerald Rapids VM put the break-even near k = 64 at 256 rows and
// k = 128 at 32 rows.
constexpr int64_t kMinK = 128, kMinRows = 32;

bool amx_disabled_by_env() {
    const char *v = std::getenv("GPTQ_CPU_NO_AMX");
    return v && std::strcmp(v, "1") == 0;
}

} // namespace

bool amx_hessian_enabled(int64_t k, int64_t rows) {
    return k >= kMinK && rows >= kMinRows && !amx_disabled_by_env() && amx_supported();
}

#ifndef GPTQ_AMX

bool amx_supported() { return false; }

void syrk_lower_amx(float *, int64_t, const float *, int64_t, int64_t, int,
                    std::vector<uint16_t> *, ThreadPool *) {
    fail(GPTQ_ERR_INTERNAL, "syrk_lower_amx: AMX kernels are not compiled into this build");
}

#else

namespace {

// Tokens summed in tiles before adding to H. Every chunk reads and writes the whole lower
// triangle of H (32 MB at K 4096, ~3 ms here), so a call of a calibration sequence (2048
// tokens) takes two passes over H instead of eight: 32768 tokens in 1.42 instead of 1.50 s.
// The price is the packed chunk, 6 K bytes per token (24 MiB at K 4096, T = 1024).
constexpr int64_t kChunkTokens = kAmxChunkTokens;
constexpr int64_t kTileElems = 512;  // bf16 elements of one 16 x 64-byte tile
// Block rows per task: their A panels (192 KiB each at 1024 tokens, three parts: 768 KiB)
// stay in L2 while each B panel is read once per band (at 256-token chunks 16 blocks, the
// same footprint, were faster than 8).
constexpr int64_t kBandBlocks = 4;
constexpr int64_t kTaskColumns = 32;  // block columns per task (see band_tasks)
constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;

bool ask_for_amx() {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
    if (!amx_bf16 || !amx_tile) return false;
    // Linux hands out the 8 KiB tile state only to processes that ask for it (5.16+). The
    // grant is process-wide and enlarges signal frames: the kernel refuses it while a thread
    // has a sigaltstack too small for them (we then stay on the fp32 kernel), and refuses
    // such small sigaltstacks afterwards. An application that cannot have that sets
    // GPTQ_CPU_NO_AMX=1, which keeps the library from asking at all.
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

#define AMX_TARGET __attribute__((target("avx512f,amx-tile,amx-bf16")))
#define AVX512_TARGET __attribute__((target("avx512f")))

// Palette 1 with all eight tiles 16 rows x 64 bytes.
struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
    uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Part p (0: h, 1: m, 2: l) of 16 fp32 values, as 32-bit lanes whose high half is the bf16
// (low half zero). h truncates (so |h| <= |x|, never overflowing), m rounds x - h to nearest
// even, l = x - h - m; both subtractions are exact (Sterbenz-like: the operands share their
// leading bits), and l has at most 8 significand bits left, so it is a bf16.
AVX512_TARGET inline __m512i part_bits(__m512 x, int p) {
    const __m512i high = _mm512_set1_epi32(int(0xFFFF0000u));
    const __m512i hb = _mm512_and_si512(_mm512_castps_si512(x), high);
    if (p == 0) return hb;
    const __m512 r1 = _mm512_sub_ps(x, _mm512_castsi512_ps(hb));
    const __m512i r1b = _mm512_castps_si512(r1);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(r1b, 16), _mm512_set1_epi32(1));
    const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), odd);
    const __m512i mb = _mm512_and_si512(_mm512_add_epi32(r1b, bias), high);
    if (p == 1) return mb;
    return _mm512_castps_si512(_mm512_sub_ps(r1, _mm512_castsi512_ps(mb)));
}

// In-register transpose of a 16 x 16 matrix of 32-bit lanes (r[i] is row i).
AVX512_TARGET inline void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4g + c], 128-bit lane L: rows 4g..4g+3 of column 4L + c.
    for (int g = 0; g < 16; g += 4) {
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int c = 0; c < 4; ++c) {
        const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
        const __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
        const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
        const __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

// The packed chunk: part p's B side at b[p], feature block fb (16 features) at fb * 16 * t,
// its token tile tt (32 tokens) at + tt * kTileElems; the A side of feature blocks from
// a_fb0 on at a[p], laid out alike (feature block fb at (fb - a_fb0) * 16 * t).
struct Packed {
    uint16_t *a[3], *b[3];
    int64_t a_fb0;
    int64_t t;  // tokens padded to a multiple of 32
};

// Features [f0, f0 + 16) of token tok (zero where masked out or tok >= n).
AVX512_TARGET inline __m512 load_token(const float *x0, int64_t ldx, int64_t n, int64_t tok,
                                       int64_t f0, __mmask16 fmask) {
    return tok < n ? _mm512_maskz_loadu_ps(fmask, x0 + tok * ldx + f0) : _mm512_setzero_ps();
}

// Packs the B side of 16 features (fb) x all tokens of the chunk x0 [n x k] for parts
// [0, parts).
AVX512_TARGET void pack_feature_block(const Packed &pk, const float *x0, int64_t ldx, int64_t n,
                                      int64_t k, int64_t fb, int parts) {
    const int64_t f0 = fb * 16;
    const __mmask16 fmask =
        f0 >= k ? 0 : k - f0 >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k - f0)) - 1);
    const __m512i high = _mm512_set1_epi32(int(0xFFFF0000u));
    for (int64_t tt = 0; tt < pk.t / 32; ++tt) {
        const int64_t off = fb * 16 * pk.t + tt * kTileElems;
        for (int p = 0; p < parts; ++p) {
            for (int r = 0; r < 16; ++r) {
                const int64_t tok = tt * 32 + 2 * r;
                const __m512i even = part_bits(load_token(x0, ldx, n, tok, f0, fmask), p);
                const __m512i odd = part_bits(load_token(x0, ldx, n, tok + 1, f0, fmask), p);
                const __m512i pair =
                    _mm512_or_si512(_mm512_and_si512(odd, high), _mm512_srli_epi32(even, 16));
                _mm512_storeu_si512(pk.b[p] + off + r * 32, pair);
            }
        }
    }
}

// The A side of feature blocks [pk.a_fb0, fb1) from the packed B side.
AVX512_TARGET void pack_a_side(const Packed &pk, int64_t fb1, int parts) {
    for (int p = 0; p < parts; ++p)
        for (int64_t fb = pk.a_fb0; fb < fb1; ++fb)
            for (int64_t tt = 0; tt < pk.t / 32; ++tt) {
                const int64_t tile = tt * kTileElems;
                const uint16_t *src = pk.b[p] + fb * 16 * pk.t + tile;
                uint16_t *dst = pk.a[p] + (fb - pk.a_fb0) * 16 * pk.t + tile;
                __m512i rows[16];
                for (int r = 0; r < 16; ++r) rows[r] = _mm512_loadu_si512(src + r * 32);
                transpose16(rows);
                for (int r = 0; r < 16; ++r) _mm512_storeu_si512(dst + r * 32, rows[r]);
            }
}

// A finished 32 x 32 block sum waiting to be added to H (h[i0 + r][j0 + c] += out[r][c]
// inside k x k; on a diagonal block only c <= r). Its rows are added a few at a time between
// the next block's tile products, so the vector adds and their H traffic overlap the AMX work
// instead of stalling it.
struct PendingAdd {
    float *h = nullptr;
    int64_t k = 0, i0 = 0, j0 = 0;
    const float *out = nullptr;
    int64_t next = 32;  // first row not added yet (32: nothing pending)

    AVX512_TARGET void add_rows(int64_t upto) {
        const int64_t end = std::min({upto, int64_t(32), k - i0});
        for (; next < end; ++next) {
            const int64_t r = next;
            const int64_t width = std::min<int64_t>(i0 == j0 ? r + 1 : 32, k - j0);
            float *dst = h + (i0 + r) * k + j0;
            for (int64_t c = 0; c < width; c += 16) {
                const int64_t w = std::min<int64_t>(16, width - c);
                const __mmask16 m = w == 16 ? __mmask16(0xFFFF) : __mmask16((1u << w) - 1);
                const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + c),
                                                 _mm512_maskz_loadu_ps(m, out + r * 32 + c));
                _mm512_mask_storeu_ps(dst + c, m, sum);
            }
        }
        if (next >= std::min<int64_t>(32, k - i0)) next = 32;
    }
};

// Loads A tiles (rows of feature blocks 2 bi, 2 bi + 1) of part p / B tiles (columns of
// 2 bj, 2 bj + 1) of part p for the token tile at offset o.
#define LOAD_A(p)                                                                              \
    _tile_loadd(4, a[p] + o, 64);                                                              \
    _tile_loadd(5, a[p] + fstride + o, 64)
#define LOAD_B(p)                                                                              \
    _tile_loadd(6, b[p] + o, 64);                                                              \
    _tile_loadd(7, b[p] + fstride + o, 64)
#define DP4()                                                                                  \
    _tile_dpbf16ps(0, 4, 6);                                                                   \
    _tile_dpbf16ps(1, 4, 7);                                                                   \
    _tile_dpbf16ps(2, 5, 6);                                                                   \
    _tile_dpbf16ps(3, 5, 7)

// out [32 x 32] = sum over the chunk of the products for feature blocks (2 bi, 2 bi + 1) x
// (2 bj, 2 bj + 1). Per token tile the products go in the order l h, m h, h h, h m, m m, h l
// (the subset for fewer parts), which reuses a loaded tile whenever the next product shares
// it: 16 tile loads for 24 products. The previous block's `pending` add is spread over the
// token tiles. The tile configuration must be loaded.
template <int Parts>
AMX_TARGET void block_32x32(const Packed &pk, int64_t bi, int64_t bj, float *out,
                            PendingAdd *pending) {
    const int64_t ntt = pk.t / 32, fstride = 16 * pk.t;
    const int64_t rows_per_tile = (32 + ntt - 1) / ntt;
    const uint16_t *a[3], *b[3];
    for (int p = 0; p < Parts; ++p) {
        a[p] = pk.a[p] + (2 * bi - pk.a_fb0) * fstride;
        b[p] = pk.b[p] + 2 * bj * fstride;
    }
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t tt = 0; tt < ntt; ++tt) {
        const int64_t o = tt * kTileElems;
        if constexpr (Parts == 1) {
            LOAD_A(0);
            LOAD_B(0);
            DP4();
        } else {
            if constexpr (Parts == 3) {
                LOAD_A(2);
                LOAD_B(0);
                DP4();  // l h
                LOAD_A(1);
            } else {
                LOAD_A(1);
                LOAD_B(0);
            }
            DP4();  // m h
            LOAD_A(0);
            DP4();  // h h
            LOAD_B(1);
            DP4();  // h m
            LOAD_A(1);
            DP4();  // m m
            if constexpr (Parts == 3) {
                LOAD_A(0);
                LOAD_B(2);
                DP4();  // h l
            }
        }
        pending->add_rows((tt + 1) * rows_per_tile);
    }
    _tile_stored(0, out, 128);
    _tile_stored(1, out + 16, 128);
    _tile_stored(2, out + 512, 128);
    _tile_stored(3, out + 528, 128);
}
#undef LOAD_A
#undef LOAD_B
#undef DP4

// The H rows of a block, which a PendingAdd will update: 32 rows far apart, which no
// hardware prefetcher guesses.
void prefetch_block(const float *h, int64_t k, int64_t i0, int64_t j0) {
    const int64_t rows = std::min<int64_t>(32, k - i0), last = std::min<int64_t>(31, k - 1 - j0);
    for (int64_t r = 0; r < rows; ++r) {
        const float *row = h + (i0 + r) * k + j0;
        _mm_prefetch(reinterpret_cast<const char *>(row), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char *>(row + last), _MM_HINT_T0);
    }
}

// One task: the blocks of block rows [bi0, bi1) and block columns [bj0, bj1) in the lower
// triangle, column by column, so that a column's B panel is read from memory once and then
// from cache while the band's A panels (pk.a, from feature block pk.a_fb0 = 2 bi0 on) stay
// in L2. Each block is summed and added to H.
struct BandTask {
    int64_t bi0, bi1, bj0, bj1;
};

template <int Parts>
AMX_TARGET void run_task(const Packed &pk, float *h, int64_t k, const BandTask &task) {
    static const TileConfig config;
    alignas(64) float out[2][32 * 32];  // the block being summed and the one being added
    PendingAdd pending;
    pending.h = h;
    pending.k = k;
    int cur = 0;
    _tile_loadconfig(&config);
    for (int64_t bj = task.bj0; bj < task.bj1; ++bj)
        for (int64_t bi = std::max(task.bi0, bj); bi < task.bi1; ++bi) {
            prefetch_block(h, k, bi * 32, bj * 32);  // arrives before its add, one block on
            block_32x32<Parts>(pk, bi, bj, out[cur], &pending);
            pending.add_rows(32);
            pending.i0 = bi * 32;
            pending.j0 = bj * 32;
            pending.out = out[cur];
            pending.next = 0;
            cur ^= 1;
        }
    pending.add_rows(32);
    _tile_release();
}

void run_task(const Packed &pk, float *h, int64_t k, const BandTask &task, int parts) {
    if (parts == 1) run_task<1>(pk, h, k, task);
    if (parts == 2) run_task<2>(pk, h, k, task);
    if (parts == 3) run_task<3>(pk, h, k, task);
}

// The lower triangle's blocks as tasks: bands of kBandBlocks block rows cut into runs of
// kTaskColumns block columns, largest band first, so the last tasks handed out are short and
// a thread that a busy machine slows down holds up the others by little.
std::vector<BandTask> band_tasks(int64_t nblocks) {
    std::vector<BandTask> tasks;
    for (int64_t bi0 = (nblocks - 1) / kBandBlocks * kBandBlocks; bi0 >= 0; bi0 -= kBandBlocks) {
        const int64_t bi1 = std::min(nblocks, bi0 + kBandBlocks);
        for (int64_t bj0 = 0; bj0 < bi1; bj0 += kTaskColumns)
            tasks.push_back({bi0, bi1, bj0, std::min(bi1, bj0 + kTaskColumns)});
    }
    return tasks;
}

} // namespace

bool amx_supported() {
    static std::once_flag once;
    static bool ok = false;
    std::call_once(once, [] { ok = ask_for_amx(); });
    return ok;
}

void syrk_lower_amx(float *h, int64_t k, const float *xt, int64_t ldx, int64_t rows, int parts,
                    std::vector<uint16_t> *workspace, ThreadPool *pool) {
    if (parts < 1 || parts > 3) fail(GPTQ_ERR_INTERNAL, "syrk_lower_amx: parts %d", parts);
    if (k <= 0 || rows <= 0) return;
    // Also asks for the tile state: without it the first tile instruction would be SIGILL.
    if (!amx_supported()) fail(GPTQ_ERR_INTERNAL, "syrk_lower_amx: AMX is not available");
    const int64_t kp = (k + 31) / 32 * 32, nblocks = kp / 32, nfb = kp / 16;
    // Sized for the largest chunk before any is summed, so a failed allocation leaves H as it
    // was. Tiles 64-byte aligned (+ 32 elements of slack): a tile row across two cache lines
    // costs two loads.
    // Workspace: the B side of the chunk, then one A-side buffer per thread (a band's rows).
    const int64_t t_max = (std::min(kChunkTokens, rows) + 31) / 32 * 32;
    const int64_t threads = pool ? pool->size() : 1;
    const int64_t band_rows = std::min(kp, 32 * kBandBlocks);
    const size_t b_size = size_t(3 * kp * t_max), a_size = size_t(3 * band_rows * t_max);
    const size_t needed = b_size + size_t(threads) * a_size + 32;
    if (workspace->size() < needed) workspace->resize(needed);
    const uintptr_t base = reinterpret_cast<uintptr_t>(workspace->data());
    uint16_t *aligned = workspace->data() + ((64 - base % 64) % 64) / 2;
    const std::vector<BandTask> tasks = band_tasks(nblocks);
    // Which band's A side each thread's buffer holds (-1: none yet in this chunk).
    std::vector<int64_t> a_band(static_cast<size_t>(threads));
    for (int64_t r0 = 0; r0 < rows; r0 += kChunkTokens) {
        const int64_t n = std::min(kChunkTokens, rows - r0), t = (n + 31) / 32 * 32;
        // Each size is a multiple of 32 elements (64 bytes), keeping every tile aligned.
        Packed pk;
        for (int p = 0; p < 3; ++p) pk.b[p] = aligned + size_t(p * kp * t);
        pk.t = t;
        const float *x0 = xt + r0 * ldx;
        std::fill(a_band.begin(), a_band.end(), -1);
        auto pack = [&](int64_t fb, int) { pack_feature_block(pk, x0, ldx, n, k, fb, parts); };
        auto run = [&](int64_t index, int thread) {
            const BandTask &task = tasks[size_t(index)];
            Packed own = pk;
            own.a_fb0 = 2 * task.bi0;
            uint16_t *a_buf = aligned + b_size + size_t(thread) * a_size;
            for (int p = 0; p < 3; ++p) own.a[p] = a_buf + size_t(p * band_rows * t);
            if (a_band[size_t(thread)] != task.bi0) {  // the same bytes whichever thread packs
                pack_a_side(own, 2 * task.bi1, parts);
                a_band[size_t(thread)] = task.bi0;
            }
            run_task(own, h, k, task, parts);
        };
        const int64_t n_tasks = int64_t(tasks.size());
        if (pool) {
            pool->parallel_for(nfb, pack);
            pool->parallel_for(n_tasks, run);
        } else {
            for (int64_t fb = 0; fb < nfb; ++fb) pack(fb, 0);
            for (int64_t index = 0; index < n_tasks; ++index) run(index, 0);
        }
    }
}

#endif

} // namespace gptq::cpu
