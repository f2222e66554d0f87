// Blocked GEMM in the Goto style: k is cut into KC slices; per slice, B is packed once into
// NR-column strips shared by all threads, and tasks (MC-row blocks x column chunks) pack
// their A block into MR-row strips and run an MR x NR register micro-kernel. Every C element
// is summed over the same KC slices in the same order whatever the task split, so results
// do not depend on the thread count. The micro-kernel is chosen once at run time (AVX2+FMA if the CPU has it),
// so the library itself is built for the baseline ISA.
#include "backends/cpu/gemm.h"

#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <vector>

// GPTQ_CPU_GENERIC_ONLY: portable kernel only (see GPTQ_CPU_ISA_VARIANTS in CMakeLists.txt).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#define GPTQ_X86 1
#endif

namespace gptq::cpu {

namespace {

constexpr int64_t MR = 6, NR = 16;
constexpr int64_t KC = 256, MC = 96;  // A block 96 KB (L2); B strips of KC x NR 16 KB (L1)
static_assert(MC % MR == 0, "row blocks must hold whole strips");

using Kernel = void (*)(int64_t kc, const float *ap, const float *bp, float *out);

void kernel_generic(int64_t kc, const float *ap, const float *bp, float *out) {
    float acc[MR][NR] = {};
    for (int64_t p = 0; p < kc; ++p) {
        for (int64_t r = 0; r < MR; ++r) {
            const float a = ap[p * MR + r];
            for (int64_t j = 0; j < NR; ++j) acc[r][j] += a * bp[p * NR + j];
        }
    }
    for (int64_t r = 0; r < MR; ++r)
        for (int64_t j = 0; j < NR; ++j) out[r * NR + j] = acc[r][j];
}

#ifdef GPTQ_X86
// 6 x 16: twelve 8-wide accumulators, two B loads and one broadcast fit the 16 ymm registers.
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float *ap,
                                                     const float *bp, float *out) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        __m256 a = _mm256_broadcast_ss(ap + 0);
        c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(ap + 1);
        c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(ap + 2);
        c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(ap + 3);
        c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(ap + 4);
        c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(ap + 5);
        c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
        ap += MR;
        bp += NR;
    }
    _mm256_storeu_ps(out + 0, c00), _mm256_storeu_ps(out + 8, c01);
    _mm256_storeu_ps(out + 16, c10), _mm256_storeu_ps(out + 24, c11);
    _mm256_storeu_ps(out + 32, c20), _mm256_storeu_ps(out + 40, c21);
    _mm256_storeu_ps(out + 48, c30), _mm256_storeu_ps(out + 56, c31);
    _mm256_storeu_ps(out + 64, c40), _mm256_storeu_ps(out + 72, c41);
    _mm256_storeu_ps(out + 80, c50), _mm256_storeu_ps(out + 88, c51);
}
#endif

struct KernelChoice {
    Kernel fn;
    const char *name;
};

KernelChoice choose_kernel() {
#ifdef GPTQ_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {kernel_avx2, "avx2+fma"};
#endif
    return {kernel_generic, "generic"};
}

const KernelChoice &kernel() {
    static const KernelChoice k = choose_kernel();
    return k;
}

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
};

// Ap[s][p][r] = op(A)(i0 + s*MR + r, p0 + p), zero-padded to whole strips. Each source run
// read is contiguous (a row of A, or a row of A^T's storage).
void pack_a(const Operands &o, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float *ap) {
    for (int64_t s = 0; s < mc; s += MR) {
        const int64_t rows = std::min(MR, mc - s);
        float *strip = ap + s * kc;
        if (!o.ta) {
            for (int64_t r = 0; r < rows; ++r) {
                const float *src = o.a + (i0 + s + r) * o.lda + p0;
                for (int64_t p = 0; p < kc; ++p) strip[p * MR + r] = src[p];
            }
            for (int64_t r = rows; r < MR; ++r)
                for (int64_t p = 0; p < kc; ++p) strip[p * MR + r] = 0.0f;
        } else {
            for (int64_t p = 0; p < kc; ++p) {
                const float *src = o.a + (p0 + p) * o.lda + i0 + s;
                float *dst = strip + p * MR;
                for (int64_t r = 0; r < rows; ++r) dst[r] = src[r];
                for (int64_t r = rows; r < MR; ++r) dst[r] = 0.0f;
            }
        }
    }
}

// Bp[s][p][c] = op(B)(p0 + p, j0 + s*NR + c), zero-padded to whole strips.
void pack_b(const Operands &o, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float *bp) {
    for (int64_t s = 0; s < nc; s += NR) {
        const int64_t cols = std::min(NR, nc - s);
        float *strip = bp + s * kc;
        if (!o.tb) {
            for (int64_t p = 0; p < kc; ++p) {
                const float *src = o.b + (p0 + p) * o.ldb + j0 + s;
                float *dst = strip + p * NR;
                for (int64_t c = 0; c < cols; ++c) dst[c] = src[c];
                for (int64_t c = cols; c < NR; ++c) dst[c] = 0.0f;
            }
        } else {
            for (int64_t p = 0; p < kc; ++p)
                for (int64_t c = cols; c < NR; ++c) strip[p * NR + c] = 0.0f;
            for (int64_t c = 0; c < cols; ++c) {
                const float *src = o.b + (j0 + s + c) * o.ldb + p0;
                for (int64_t p = 0; p < kc; ++p) strip[p * NR + c] = src[p];
            }
        }
    }
}

// One task of a k slice: rows [i0, i0 + mc) x columns [j0, j1) of C. Packs its A block,
// then for each NR-column strip of the shared packed B runs the micro-kernel down the block
// (the B strip stays in L1 across the MR-row strips).
void run_task(const Operands &o, const float *bp, int64_t p0, int64_t kc, int64_t i0,
              int64_t mc, int64_t j0, int64_t j1) {
    thread_local std::vector<float> abuf;
    abuf.resize(size_t(MC * KC));
    pack_a(o, i0, mc, p0, kc, abuf.data());
    const Kernel fn = kernel().fn;
    const bool first = p0 == 0;
    float tile[MR * NR];
    for (int64_t js = j0; js < j1; js += NR) {
        const int64_t cols = std::min(NR, o.n - js);
        for (int64_t is = 0; is < mc; is += MR) {
            const int64_t mr = std::min(MR, mc - is);
            // C rows are usually far apart (a strided block of a big matrix): start fetching
            // them now so the micro-kernel's run hides the latency.
            for (int64_t r = 0; r < mr; ++r) {
                const float *crow = o.c + (i0 + is + r) * o.ldc + js;
                __builtin_prefetch(crow, 1);
                __builtin_prefetch(crow + cols - 1, 1);
            }
            fn(kc, abuf.data() + is * kc, bp + js * kc, tile);
            for (int64_t r = 0; r < mr; ++r) {
                float *crow = o.c + (i0 + is + r) * o.ldc + js;
                const float *t = tile + r * NR;
                if (!first)
                    for (int64_t j = 0; j < cols; ++j) crow[j] += o.alpha * t[j];
                else if (o.beta == 0.0f)
                    for (int64_t j = 0; j < cols; ++j) crow[j] = o.alpha * t[j];
                else
                    for (int64_t j = 0; j < cols; ++j) crow[j] = o.alpha * t[j] + o.beta * crow[j];
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

} // namespace

const char *sgemm_kernel_name() { return kernel().name; }

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc, ThreadPool *pool) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {  // empty sum: C = beta * C
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    const Operands o{trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc};
    const int64_t threads = pool ? pool->size() : 1;
    const bool parallel = pool && threads > 1 && double(m) * double(n) * double(k) > 1e6;
    // Tasks: MC-row blocks x column chunks (whole NR strips); split columns only as far as
    // needed to give every thread a few tasks.
    const int64_t strips = (n + NR - 1) / NR, row_blocks = (m + MC - 1) / MC;
    int64_t chunks = 1;
    while (parallel && row_blocks * chunks < 4 * threads && strips / (chunks * 2) >= 4) chunks *= 2;
    const int64_t chunk_strips = (strips + chunks - 1) / chunks;
    // Each k slice of B is packed once into a buffer every task reads (the caller's
    // thread-local scratch: nested calls from inside tasks use their own thread's).
    thread_local std::vector<float> bbuf;
    bbuf.resize(size_t(strips * NR * std::min(KC, k)));
    float *const bp = bbuf.data();  // lambdas below run on other threads: never name bbuf
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        const int64_t kc = std::min(KC, k - p0);
        const int64_t pack_parts = parallel ? std::min<int64_t>(strips, 2 * threads) : 1;
        run_tasks(pool, parallel && pack_parts > 1, pack_parts, [&](int64_t t, int) {
            int64_t s0, s1;
            split_range(strips, pack_parts, t, &s0, &s1);
            pack_b(o, s0 * NR, std::min(n, s1 * NR) - s0 * NR, p0, kc, bp + s0 * NR * kc);
        });
        run_tasks(pool, parallel, row_blocks * chunks, [&](int64_t t, int) {
            const int64_t rb = t % row_blocks, ch = t / row_blocks;
            const int64_t i0 = rb * MC, j0 = ch * chunk_strips * NR;
            const int64_t j1 = std::min(n, j0 + chunk_strips * NR);
            if (j0 < j1) run_task(o, bp, p0, kc, i0, std::min(MC, m - i0), j0, j1);
        });
    }
}

} // namespace gptq::cpu
