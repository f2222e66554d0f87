#include "backends/cpu/cholesky.h"

#include "backends/cpu/cholesky_blocks.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#endif

namespace gptq::cpu {

namespace {

// 128 keeps the panel GEMMs efficient (k = 128 per packed slice) while the O(n^2 * NB)
// double-precision panel solves stay a small share of the O(n^3) total.
constexpr int64_t NB = 128;

// Rows [r0, r1) of the panel below a factored diagonal block: x := x * L11^-T, i.e. solve
// L11 y = x per row by forward substitution in double. lt is L11 transposed (double, b x b),
// so each substitution step is a contiguous axpy: the bulk of the O(n^2 NB) double work.
template <class Update>
inline __attribute__((always_inline)) void panel_solve_body(float *panel, int64_t lda,
                                                            int64_t r0, int64_t r1,
                                                            const double *lt, int64_t b,
                                                            Update update) {
    double t[NB];
    for (int64_t r = r0; r < r1; ++r) {
        float *x = panel + r * lda;
        for (int64_t c = 0; c < b; ++c) t[c] = x[c];
        for (int64_t c = 0; c < b; ++c) {
            const double y = t[c] / lt[c * b + c];
            t[c] = y;
            const double *col = lt + c * b;
            for (int64_t i = c + 1; i < b; ++i) t[i] = update(t[i], y, col[i]);
        }
        for (int64_t c = 0; c < b; ++c) x[c] = float(t[c]);
    }
}

void panel_solve_generic(float *panel, int64_t lda, int64_t r0, int64_t r1, const double *lt,
                         int64_t b) {
    panel_solve_body(panel, lda, r0, r1, lt, b,
                     [](double t, double y, double u) { return t - y * u; });
}

// With AVX-512, 16 rows at a time, one row per lane of two 8-wide double vectors (a row's
// substitution is a chain of dependent steps; across rows they are independent), and every
// update t[i] -= y * col[i] one fused multiply-subtract, in the lanes and in the scalar loop
// for leftover rows alike, so a row's bits do not depend on which path or thread took it.
// (The compiler-vectorised loop this replaces fused all but a 4-wide remainder of each axpy.)
#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
__attribute__((target("avx512f,fma"))) void panel_solve_avx512(float *panel, int64_t lda,
                                                           int64_t r0, int64_t r1,
                                                           const double *lt, int64_t b) {
    constexpr int64_t L = 16;
    alignas(64) double t[NB * L];  // t[c * L + lane] = row r + lane, column c
    int64_t r = r0;
    for (; r + L <= r1; r += L) {
        for (int64_t l = 0; l < L; ++l) {
            const float *x = panel + (r + l) * lda;
            for (int64_t c = 0; c < b; ++c) t[c * L + l] = x[c];
        }
        for (int64_t c = 0; c < b; ++c) {
            const __m512d d = _mm512_set1_pd(lt[c * b + c]);
            const __m512d y0 = _mm512_div_pd(_mm512_load_pd(t + c * L), d);
            const __m512d y1 = _mm512_div_pd(_mm512_load_pd(t + c * L + 8), d);
            _mm512_store_pd(t + c * L, y0);
            _mm512_store_pd(t + c * L + 8, y1);
            const double *col = lt + c * b;
            for (int64_t i = c + 1; i < b; ++i) {
                const __m512d u = _mm512_set1_pd(col[i]);
                double *ti = t + i * L;
                _mm512_store_pd(ti, _mm512_fnmadd_pd(y0, u, _mm512_load_pd(ti)));
                _mm512_store_pd(ti + 8, _mm512_fnmadd_pd(y1, u, _mm512_load_pd(ti + 8)));
            }
        }
        for (int64_t l = 0; l < L; ++l) {
            float *x = panel + (r + l) * lda;
            for (int64_t c = 0; c < b; ++c) x[c] = float(t[c * L + l]);
        }
    }
    panel_solve_body(panel, lda, r, r1, lt, b,
                     [](double t, double y, double u) __attribute__((target("avx512f,fma"))) {
        return _mm_cvtsd_f64(_mm_fnmadd_sd(_mm_set_sd(y), _mm_set_sd(u), _mm_set_sd(t)));
    });
}

using PanelSolveFn = void (*)(float *, int64_t, int64_t, int64_t, const double *, int64_t);

PanelSolveFn choose_panel_solve() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? panel_solve_avx512 : panel_solve_generic;
}

void panel_solve(float *panel, int64_t lda, int64_t r0, int64_t r1, const double *lt,
                 int64_t b) {
    static const PanelSolveFn fn = choose_panel_solve();
    fn(panel, lda, r0, r1, lt, b);
}
#else
void panel_solve(float *panel, int64_t lda, int64_t r0, int64_t r1, const double *lt,
                 int64_t b) {
    panel_solve_generic(panel, lda, r0, r1, lt, b);
}
#endif

int64_t chunks_for(int64_t rows, ThreadPool *pool) {
    const int64_t threads = pool ? pool->size() : 1;
    return std::max<int64_t>(1, std::min<int64_t>(rows / 16, threads * 4));
}

template <class F>
void for_chunks(int64_t rows, ThreadPool *pool, F &&fn) {
    const int64_t parts = chunks_for(rows, pool);
    auto task = [&](int64_t i, int) {
        int64_t b, e;
        split_range(rows, parts, i, &b, &e);
        fn(b, e);
    };
    if (pool && parts > 1)
        pool->parallel_for(parts, task);
    else
        for (int64_t i = 0; i < parts; ++i) task(i, 0);
}

} // namespace

bool cholesky_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    std::vector<double> lt(size_t(NB * NB)), scratch(size_t(NB * NB + 8));
    for (int64_t j = 0; j < n; j += NB) {
        const int64_t b = std::min(NB, n - j);
        float *ajj = a + j * lda + j;
        if (!cholesky_block(ajj, b, lda, scratch.data())) return false;
        const int64_t r0 = j + b, m = n - r0;
        if (m == 0) break;
        for (int64_t c = 0; c < b; ++c)
            for (int64_t i = 0; i < b; ++i) lt[c * b + i] = ajj[i * lda + c];
        float *panel = a + r0 * lda + j;
        // Whole groups of 16 rows per chunk (the vector path's unit).
        for_chunks((m + 15) / 16, pool, [&](int64_t gb, int64_t ge) {
            panel_solve(panel, lda, gb * 16, std::min(m, ge * 16), lt.data(), b);
        });
        // Trailing update A22 -= P P^T on the lower triangle (the GEMM may also write some
        // of the strict upper triangle near the diagonal; zeroed below and by cholesky_block).
        sgemm_lower(false, true, m, b, -1.0f, panel, lda, panel, lda, 1.0f, a + r0 * lda + r0,
                    lda, pool);
    }
    // Zero the strict upper triangle outside the diagonal blocks (cholesky_block did the blocks).
    for (int64_t i = 0; i < n; ++i) {
        const int64_t from = (i / NB + 1) * NB;
        for (int64_t jj = from; jj < n; ++jj) a[i * lda + jj] = 0.0f;
    }
    return true;
}

bool invert_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    std::vector<double> x(size_t(NB * NB));
    std::vector<float> s;
    const int64_t last = ((n - 1) / NB) * NB;
    for (int64_t j = last; j >= 0; j -= NB) {
        const int64_t b = std::min(NB, n - j);
        float *ajj = a + j * lda + j;
        if (!invert_lower_block(ajj, b, lda, x.data())) return false;
        const int64_t r0 = j + b, m = n - r0;
        if (m == 0) continue;
        // [L11 0; L21 L22]^-1 has lower-left block -L22^-1 L21 L11^-1; L22^-1 is already
        // in place (blocks are done bottom-up) with zeros above its diagonal.
        s.resize(size_t(m * b));
        float *panel = a + r0 * lda + j;
        for (int64_t r = 0; r < m; ++r)
            std::copy(panel + r * lda, panel + r * lda + b, s.begin() + r * b);
        // panel = L22^-1 * S: one product over every row block, each summing only over the
        // columns left of its diagonal end (the k slices beyond hold L22^-1's zeros).
        sgemm_lower_a(m, b, 1.0f, a + r0 * lda + r0, lda, s.data(), b, 0.0f, panel, lda, pool);
        for (int64_t r = 0; r < m; ++r)
            std::copy(panel + r * lda, panel + r * lda + b, s.begin() + r * b);
        sgemm(false, false, m, b, b, -1.0f, s.data(), b, ajj, lda, 0.0f, panel, lda, pool);
    }
    return true;
}

void lower_gram(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    // Row block I of M^T M needs rows >= I of M only, so ascending blocks can be written
    // back in place once computed into a scratch row block. Blocks of 2 NB rows: every GEMM
    // packs its (n - i) x w operand once for the block's rows, so taller blocks halve that
    // memory-bound share, for a few percent of products with the zeros above M's diagonal.
    constexpr int64_t rows_per_block = 2 * NB;
    std::vector<float> s(size_t(std::min(rows_per_block, n) * n));
    for (int64_t i = 0; i < n; i += rows_per_block) {
        const int64_t b = std::min(rows_per_block, n - i), w = i + b;
        sgemm(true, false, b, w, n - i, 1.0f, a + i * lda + i, lda, a + i * lda, lda, 0.0f,
              s.data(), w, pool);
        for (int64_t r = 0; r < b; ++r)
            std::copy(s.begin() + r * w, s.begin() + (r + 1) * w, a + (i + r) * lda);
    }
}

bool cholesky_inverse_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    if (!invert_lower(a, n, lda, pool)) return false;
    lower_gram(a, n, lda, pool);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j)
            if (!std::isfinite(a[i * lda + j])) return false;
    return true;
}

void mirror_lower(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    constexpr int64_t T = 32;  // tiles keep both the row and the column reads in cache
    // Each row block of tiles writes only its own rows (above the diagonal) and reads the
    // lower triangle, which nobody writes: row blocks are independent.
    for_chunks((n + T - 1) / T, pool, [&](int64_t b0, int64_t b1) {
        for (int64_t ib = b0 * T; ib < std::min(n, b1 * T); ib += T)
            for (int64_t jb = ib; jb < n; jb += T)
                for (int64_t i = ib; i < std::min(ib + T, n); ++i)
                    for (int64_t j = std::max(jb, i + 1); j < std::min(jb + T, n); ++j)
                        a[i * lda + j] = a[j * lda + i];
    });
}

// a := J a J with J the reversal permutation (a 180-degree turn: element (i, j) goes to
// (n-1-i, n-1-j)), which swaps the lower and the upper triangle.
void rotate_half_turn(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    // Row i trades places with row n-1-i, both reversed; pairs are independent.
    for_chunks((n + 1) / 2, pool, [&](int64_t p0, int64_t p1) {
        for (int64_t i = p0; i < p1; ++i) {
            float *top = a + i * lda, *bottom = a + (n - 1 - i) * lda;
            if (top != bottom) std::swap_ranges(top, top + n, bottom);
            std::reverse(top, top + n);
            if (top != bottom) std::reverse(bottom, bottom + n);
        }
    });
}

bool gptq_inverse_factor(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    mirror_lower(a, n, lda, pool);
    rotate_half_turn(a, n, lda, pool);
    return gptq_inverse_factor_reversed(a, n, lda, pool);
}

bool gptq_inverse_factor_reversed(float *a, int64_t n, int64_t lda, ThreadPool *pool) {
    // U is the inverse of the upper factor R of H = R R^T: R^-1 is upper triangular with a
    // positive diagonal and (R^-1)^T R^-1 = (R R^T)^-1 = H^-1, so by uniqueness it is the
    // upper Cholesky factor of H^-1 that GPTQ wants. R comes from the lower Cholesky factor
    // of J H J (J reverses the order): J H J = L L^T gives H = (J L J)(J L J)^T, and
    // U = J L^-1 J. One factorisation and one triangular inverse (2n^3/3 flops) instead of
    // Cholesky, inverse, product and Cholesky again (4n^3/3), and H^-1 is never formed.
    if (!cholesky_lower(a, n, lda, pool)) return false;
    if (!invert_lower(a, n, lda, pool)) return false;
    std::atomic<bool> finite{true};
    for_chunks(n, pool, [&](int64_t r0, int64_t r1) {
        bool ok = true;
        for (int64_t i = r0; i < r1; ++i)
            for (int64_t j = 0; j <= i; ++j) ok = ok && std::isfinite(a[i * lda + j]);
        if (!ok) finite = false;
    });
    if (!finite) return false;
    rotate_half_turn(a, n, lda, pool);
    return true;
}

} // namespace gptq::cpu
