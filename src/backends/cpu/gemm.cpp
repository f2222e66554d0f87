// Blocked GEMM in the Goto style: k is cut into KC slices; per slice, B is packed once into
// NR-column strips shared by all threads, and tasks (MC-row blocks x column chunks) pack
// their A block into MR-row strips and run the MR x NR register micro-kernel of
// gemm_kernels.cpp. Every C element is summed over the same KC slices in the same order
// whatever the task split, so results do not depend on the thread count.
#include "backends/cpu/gemm.h"

#include "backends/cpu/gemm_kernels.h"
#include "backends/cpu/thread_pool.h"
#include "core/error.h"

#include <algorithm>
#include <vector>

#if defined(__SSE__) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <xmmintrin.h>
#define GPTQ_GEMM_SSE 1
#endif

namespace gptq::cpu {

namespace {

constexpr int64_t KC = 256;              // k slice: a B strip (KC x NR) stays in L1
constexpr int64_t kStripsPerBlock = 16;  // MC = 16 MR: the A block (<= 192 x 256) in L2
constexpr int64_t kWholeBFloats = int64_t(1) << 20;  // 4 MiB: a B packed whole stays in L2/L3
// sgemm_lower computes whole strips up to the end of each row block: its promise about the
// upper triangle holds for every kernel shape (at most 12 x 32).
static_assert(kStripsPerBlock * 12 + 32 <= kSgemmLowerReach, "sgemm_lower reach");

struct Operands {
    bool ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    bool lower;    // only tiles meeting the lower triangle (j <= i)
    bool a_lower;  // A is lower triangular: row block [i0, i1) has no terms at p >= i1
};

// Ap[s][p][r] = op(A)(i0 + s*MR + r, p0 + p), zero-padded to whole strips. Each source run
// read is contiguous (a row of A, or a row of A^T's storage). The strip width is a template
// argument so the short copies compile to a few vector moves, not library calls.
template <int64_t mr>
void pack_a(const Operands &o, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float *ap) {
    for (int64_t s = 0; s < mc; s += mr) {
        const int64_t rows = std::min(mr, mc - s);
        float *strip = ap + s * kc;
        if (!o.ta && rows == mr) {
            // A whole strip: read the mr rows side by side so every write is contiguous.
            const float *src[mr];
            for (int64_t r = 0; r < mr; ++r) src[r] = o.a + (i0 + s + r) * o.lda + p0;
            int64_t p = 0;
#ifdef GPTQ_GEMM_SSE
            // 4 x 4 blocks transposed in SSE registers (x86-64's baseline): a quarter of the
            // scalar loop's stores, which bound it.
            if constexpr (mr % 4 == 0)
                for (; p + 4 <= kc; p += 4)
                    for (int64_t r = 0; r < mr; r += 4) {
                        __m128 r0 = _mm_loadu_ps(src[r] + p), r1 = _mm_loadu_ps(src[r + 1] + p);
                        __m128 r2 = _mm_loadu_ps(src[r + 2] + p), r3 = _mm_loadu_ps(src[r + 3] + p);
                        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                        _mm_storeu_ps(strip + p * mr + r, r0);
                        _mm_storeu_ps(strip + (p + 1) * mr + r, r1);
                        _mm_storeu_ps(strip + (p + 2) * mr + r, r2);
                        _mm_storeu_ps(strip + (p + 3) * mr + r, r3);
                    }
#endif
            for (; p < kc; ++p)
                for (int64_t r = 0; r < mr; ++r) strip[p * mr + r] = src[r][p];
        } else if (!o.ta) {
            for (int64_t r = 0; r < rows; ++r) {
                const float *src = o.a + (i0 + s + r) * o.lda + p0;
                for (int64_t p = 0; p < kc; ++p) strip[p * mr + r] = src[p];
            }
            for (int64_t r = rows; r < mr; ++r)
                for (int64_t p = 0; p < kc; ++p) strip[p * mr + r] = 0.0f;
        } else {
            for (int64_t p = 0; p < kc; ++p) {
                const float *src = o.a + (p0 + p) * o.lda + i0 + s;
                float *dst = strip + p * mr;
                if (rows == mr) {
                    for (int64_t r = 0; r < mr; ++r) dst[r] = src[r];
                } else {
                    for (int64_t r = 0; r < rows; ++r) dst[r] = src[r];
                    for (int64_t r = rows; r < mr; ++r) dst[r] = 0.0f;
                }
            }
        }
    }
}

// Bp[s][p][c] = op(B)(p0 + p, j0 + s*NR + c), zero-padded to whole strips.
template <int64_t nr>
void pack_b(const Operands &o, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float *bp) {
    for (int64_t s = 0; s < nc; s += nr) {
        const int64_t cols = std::min(nr, nc - s);
        float *strip = bp + s * kc;
        if (!o.tb) {
            for (int64_t p = 0; p < kc; ++p) {
                const float *src = o.b + (p0 + p) * o.ldb + j0 + s;
                float *dst = strip + p * nr;
                if (cols == nr) {
                    for (int64_t c = 0; c < nr; ++c) dst[c] = src[c];
                } else {
                    for (int64_t c = 0; c < cols; ++c) dst[c] = src[c];
                    for (int64_t c = cols; c < nr; ++c) dst[c] = 0.0f;
                }
            }
        } else {
            for (int64_t p = 0; p < kc; ++p)
                for (int64_t c = cols; c < nr; ++c) strip[p * nr + c] = 0.0f;
            for (int64_t c = 0; c < cols; ++c) {
                const float *src = o.b + (j0 + s + c) * o.ldb + p0;
                for (int64_t p = 0; p < kc; ++p) strip[p * nr + c] = src[p];
            }
        }
    }
}

// The packers for the kernel's strip widths (12 x 32 for AVX-512, 6 x 16 otherwise).
void pack_a_for(const GemmKernel &kern, const Operands &o, int64_t i0, int64_t mc, int64_t p0,
                int64_t kc, float *ap) {
    if (kern.mr == 12) return pack_a<12>(o, i0, mc, p0, kc, ap);
    if (kern.mr == 6) return pack_a<6>(o, i0, mc, p0, kc, ap);
    fail(GPTQ_ERR_INTERNAL, "sgemm: no packer for %lld-row strips", (long long)kern.mr);
}

void pack_b_for(const GemmKernel &kern, const Operands &o, int64_t j0, int64_t nc, int64_t p0,
                int64_t kc, float *bp) {
    if (kern.nr == 32) return pack_b<32>(o, j0, nc, p0, kc, bp);
    if (kern.nr == 16) return pack_b<16>(o, j0, nc, p0, kc, bp);
    fail(GPTQ_ERR_INTERNAL, "sgemm: no packer for %lld-column strips", (long long)kern.nr);
}

// A tile cut by the edge of C: the kernel writes a full tile into scratch, merged here with
// the kernel's own arithmetic (alpha T, then the add or the beta term).
void merge_partial(const float *tile, int64_t nr, int64_t rows, int64_t cols, float *c,
                   int64_t ldc, float alpha, float beta, TileMerge merge) {
    for (int64_t r = 0; r < rows; ++r) {
        float *crow = c + r * ldc;
        for (int64_t j = 0; j < cols; ++j) {
            const float t = alpha * tile[r * nr + j];
            crow[j] = merge == TileMerge::Store ? t
                      : merge == TileMerge::Add ? crow[j] + t
                                                : t + beta * crow[j];
        }
    }
}

// Where the kernels read a k slice of B: packed strips (bp, every strip), or, for a
// row-major B and few rows of C, whole strips in place (each B element then meets only a
// few A strips, and packing it would cost as much memory traffic as the product itself),
// with only the last, partial strip packed.
struct BSlice {
    const float *packed;       // strip s at packed + s * nr * kc
    const float *direct;       // op(B)(p0, 0) when in place, else null
    int64_t ldb, direct_cols;  // row stride in place; columns read in place
    const float *strip(int64_t js, int64_t nr, int64_t kc, int64_t *ld) const {
        if (js < direct_cols) return *ld = ldb, direct + js;
        return *ld = nr, packed + js * kc;
    }
};

// One task of a k slice: rows [i0, i0 + mc) x columns [j0, j1) of C. Packs its A block,
// then for each NR-column strip of B runs the micro-kernel down the block (the B strip
// stays in L1 across the MR-row strips).
void run_task(const Operands &o, const GemmKernel &kern, const BSlice &bs, int64_t p0,
              int64_t kc, int64_t i0, int64_t mc, int64_t j0, int64_t j1) {
    const int64_t mr = kern.mr, nr = kern.nr;
    thread_local std::vector<float> abuf;
    abuf.resize(size_t(kStripsPerBlock * mr * KC));
    pack_a_for(kern, o, i0, mc, p0, kc, abuf.data());
    // Later k slices add to C; beta == 1 is C + alpha T, the same rounding as Scale with 1.
    TileMerge merge = TileMerge::Add;
    if (p0 == 0 && o.beta != 1.0f) merge = o.beta == 0.0f ? TileMerge::Store : TileMerge::Scale;
    float tile[32 * 32];  // >= the largest mr x nr
    for (int64_t js = j0; js < j1; js += nr) {
        const int64_t cols = std::min(nr, o.n - js);
        for (int64_t is = 0; is < mc; is += mr) {
            const int64_t rows = std::min(mr, mc - is);
            float *c = o.c + (i0 + is) * o.ldc + js;
            // C rows are far apart (a strided block of a big matrix): fetch the next tile's
            // while this one computes (the kernel also fetches its own, too late to hide
            // a full miss).
            const int64_t next_is = is + mr < mc ? is + mr : 0;
            const int64_t next_js = is + mr < mc ? js : js + nr;
            if (next_js < j1)
                for (int64_t r = 0; r < std::min(mr, mc - next_is); ++r) {
                    const float *crow = o.c + (i0 + next_is + r) * o.ldc + next_js;
                    __builtin_prefetch(crow, 1);
                    __builtin_prefetch(crow + std::min(nr, o.n - next_js) - 1, 1);
                }
            int64_t ldb;
            const float *ap = abuf.data() + is * kc, *b = bs.strip(js, nr, kc, &ldb);
            if (rows == mr && cols == nr) {
                kern.fn(kc, ap, b, ldb, c, o.ldc, o.alpha, o.beta, merge);
            } else {
                kern.fn(kc, ap, b, ldb, tile, nr, 1.0f, 0.0f, TileMerge::Store);
                merge_partial(tile, nr, rows, cols, c, o.ldc, o.alpha, o.beta, merge);
            }
        }
    }
}

template <class F>
void run_tasks(ThreadPool *pool, bool parallel, int64_t n, F &&fn) {
    if (parallel)
        pool->parallel_for(n, fn);
    else
        for (int64_t t = 0; t < n; ++t) fn(t, 0);
}

void empty_sum(const Operands &o) {  // k == 0: C = beta * C
    for (int64_t i = 0; i < o.m; ++i) {
        const int64_t cols = o.lower ? std::min(o.n, i + 1) : o.n;
        for (int64_t j = 0; j < cols; ++j)
            o.c[i * o.ldc + j] = o.beta == 0.0f ? 0.0f : o.beta * o.c[i * o.ldc + j];
    }
}

void gemm(const Operands &o, ThreadPool *pool) {
    if (o.m <= 0 || o.n <= 0) return;
    if (o.k <= 0) return empty_sum(o);
    const GemmKernel &kern = gemm_kernel();
    const int64_t mr = kern.mr, nr = kern.nr, mc_max = kStripsPerBlock * mr;
    const int64_t threads = pool ? pool->size() : 1;
    const double flops = double(o.m) * double(o.n) * double(o.k) * (o.lower ? 0.5 : 1.0);
    const bool parallel = pool && threads > 1 && flops > 1e6;
    // Tasks: MC-row blocks x column chunks (whole NR strips); split columns only as far as
    // needed to give every thread a few tasks (more for the uneven triangle). The split
    // never changes which strips are whole, so it cannot change any result.
    const int64_t strips = (o.n + nr - 1) / nr, row_blocks = (o.m + mc_max - 1) / mc_max;
    const int64_t want = (o.lower ? 8 : 4) * threads;
    int64_t chunks = 1;
    while (parallel && row_blocks * chunks < want && strips / (chunks * 2) >= 4) chunks *= 2;
    const int64_t chunk_strips = (strips + chunks - 1) / chunks;
    // Each k slice of B is packed once into a buffer every task reads (the caller's
    // thread-local scratch: nested calls from inside tasks use their own thread's), except
    // the whole strips read in place (see BSlice). Either way the kernel sees the same
    // values in the same order: the choice cannot change a result.
    const bool in_place = !o.tb && row_blocks <= 2;
    const int64_t packed_from = in_place ? o.n / nr : 0;  // first strip to pack
    thread_local std::vector<float> bbuf;
    // Several k slices of a narrow B (the triangular inverse's L22^-1 S: n = 128, k up to
    // K): B is packed whole at once and each task runs its rows through every slice, so the
    // call takes two parallel steps instead of two per slice, and the triangle's uneven
    // rows balance across the threads. Each C element still sums the same slices in the
    // same order with the same kernel: the same bits.
    const int64_t slices = (o.k + KC - 1) / KC;
    if (parallel && !in_place && slices > 1 && strips * nr * o.k <= kWholeBFloats) {
        bbuf.resize(size_t(strips * nr * slices * KC));
        float *const bp = bbuf.data();
        const int64_t slice_floats = strips * nr * KC;
        run_tasks(pool, true, slices, [&](int64_t s, int) {
            const int64_t p0 = s * KC;
            pack_b_for(kern, o, 0, o.n, p0, std::min(KC, o.k - p0), bp + s * slice_floats);
        });
        run_tasks(pool, true, row_blocks * chunks, [&](int64_t t, int) {
            const int64_t rb = row_blocks - 1 - t / chunks, ch = t % chunks;
            const int64_t i0 = rb * mc_max, mc = std::min(mc_max, o.m - i0);
            const int64_t n_end = o.lower ? std::min(o.n, i0 + mc) : o.n;
            const int64_t j0 = ch * chunk_strips * nr;
            const int64_t j1 = std::min(n_end, j0 + chunk_strips * nr);
            if (j0 >= j1) return;
            for (int64_t p0 = 0; p0 < o.k; p0 += KC) {
                if (o.a_lower && p0 >= i0 + mc) break;  // only A's zeros from here on
                const BSlice bs{bp + (p0 / KC) * slice_floats, nullptr, o.ldb, 0};
                run_task(o, kern, bs, p0, std::min(KC, o.k - p0), i0, mc, j0, j1);
            }
        });
        return;
    }
    bbuf.resize(size_t(strips * nr * std::min(KC, o.k)));
    float *const bp = bbuf.data();  // lambdas below run on other threads: never name bbuf
    for (int64_t p0 = 0; p0 < o.k; p0 += KC) {
        const int64_t kc = std::min(KC, o.k - p0);
        const int64_t to_pack = strips - packed_from;
        const int64_t pack_parts = parallel ? std::min<int64_t>(to_pack, 2 * threads) : 1;
        run_tasks(pool, parallel && pack_parts > 1, pack_parts, [&](int64_t t, int) {
            int64_t s0, s1;
            split_range(to_pack, pack_parts, t, &s0, &s1);
            s0 += packed_from, s1 += packed_from;
            if (s0 < s1)
                pack_b_for(kern, o, s0 * nr, std::min(o.n, s1 * nr) - s0 * nr, p0, kc,
                           bp + s0 * nr * kc);
        });
        const BSlice bs{bp, in_place ? o.b + p0 * o.ldb : nullptr, o.ldb, packed_from * nr};
        run_tasks(pool, parallel, row_blocks * chunks, [&](int64_t t, int) {
            // Bottom row blocks first: in the triangle they are the widest.
            const int64_t rb = row_blocks - 1 - t / chunks, ch = t % chunks;
            const int64_t i0 = rb * mc_max, mc = std::min(mc_max, o.m - i0);
            // A slice of nothing but A's zeros would add exact zeros: skipped.
            if (o.a_lower && p0 >= i0 + mc) return;
            const int64_t n_end = o.lower ? std::min(o.n, i0 + mc) : o.n;
            const int64_t j0 = ch * chunk_strips * nr;
            const int64_t j1 = std::min(n_end, j0 + chunk_strips * nr);
            if (j0 < j1) run_task(o, kern, bs, p0, kc, i0, mc, j0, j1);
        });
    }
}

} // namespace

const char *sgemm_kernel_name() { return gemm_kernel().name; }

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc, ThreadPool *pool) {
    gemm({trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc, false, false}, pool);
}

void sgemm_lower(bool trans_a, bool trans_b, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                 ThreadPool *pool) {
    gemm({trans_a, trans_b, n, n, k, alpha, beta, a, lda, b, ldb, c, ldc, true, false}, pool);
}

void sgemm_lower_a(int64_t m, int64_t n, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                   ThreadPool *pool) {
    gemm({false, false, m, n, m, alpha, beta, a, lda, b, ldb, c, ldc, false, true}, pool);
}

} // namespace gptq::cpu
