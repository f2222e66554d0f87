// See cholesky_blocks.h. The vector variants put independent chains in the lanes: the rows
// below the pivot for the Cholesky (each a dot product over the previous columns, read from
// a transposed double copy of the finished columns), the columns of the inverse (column j
// of L^-1 is a chain down its rows, independent of the other columns). A lane sums exactly
// the terms the scalar loop sums, in the same order, with the same roundings.
#include "backends/cpu/cholesky_blocks.h"

#include <cmath>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#define GPTQ_BLOCKS_X86 1
#endif

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own undefined-vector
// placeholders (a false positive of the headers, not of this file).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gptq::cpu {

namespace {

bool cholesky_block_generic(float *a, int64_t b, int64_t lda, double *) {
    for (int64_t j = 0; j < b; ++j) {
        float *rj = a + j * lda;
        double s = rj[j];
        for (int64_t p = 0; p < j; ++p) s -= double(rj[p]) * double(rj[p]);
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        const double ljj = std::sqrt(s);
        rj[j] = float(ljj);
        for (int64_t i = j + 1; i < b; ++i) {
            float *ri = a + i * lda;
            double t = ri[j];
            for (int64_t p = 0; p < j; ++p) t -= double(ri[p]) * double(rj[p]);
            ri[j] = float(t / ljj);
        }
        for (int64_t i = j + 1; i < b; ++i) rj[i] = 0.0f;
    }
    return true;
}

// x = L^-1 column by column: x[j][j] = 1/L[j][j], x[i][j] = -sum_{j<=p<i} L[i][p] x[p][j] / L[i][i].
void inverse_generic(const float *a, int64_t b, int64_t lda, double *x) {
    for (int64_t j = 0; j < b; ++j) {
        for (int64_t i = 0; i < j; ++i) x[i * b + j] = 0.0;
        x[j * b + j] = 1.0 / double(a[j * lda + j]);
        for (int64_t i = j + 1; i < b; ++i) {
            double s = 0.0;
            for (int64_t p = j; p < i; ++p) s += double(a[i * lda + p]) * x[p * b + j];
            x[i * b + j] = -s / double(a[i * lda + i]);
        }
    }
}

#ifdef GPTQ_BLOCKS_X86
// xt[p * b + i] = double(L[i][p]) for the finished columns p < j.
__attribute__((target("avx512f"))) bool cholesky_block_avx512(float *a, int64_t b, int64_t lda,
                                                              double *xt) {
    for (int64_t j = 0; j < b; ++j) {
        float *rj = a + j * lda;
        double s = rj[j];
        for (int64_t p = 0; p < j; ++p) s -= xt[p * b + j] * xt[p * b + j];
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        const double ljj = std::sqrt(s);
        rj[j] = float(ljj);
        xt[j * b + j] = double(rj[j]);
        const __m512d d = _mm512_set1_pd(ljj);
        for (int64_t i0 = j + 1; i0 < b; i0 += 8) {
            const int64_t lanes = b - i0 < 8 ? b - i0 : 8;
            alignas(64) double t[8] = {};
            for (int64_t l = 0; l < lanes; ++l) t[l] = a[(i0 + l) * lda + j];
            __m512d v = _mm512_load_pd(t);
            // Lanes past b read xt's padding (zeros, never stored back).
            for (int64_t p = 0; p < j; ++p)
                v = _mm512_sub_pd(v, _mm512_mul_pd(_mm512_loadu_pd(xt + p * b + i0),
                                                   _mm512_set1_pd(xt[p * b + j])));
            _mm512_store_pd(t, _mm512_div_pd(v, d));
            for (int64_t l = 0; l < lanes; ++l) {
                const float lij = float(t[l]);
                a[(i0 + l) * lda + j] = lij;
                xt[j * b + i0 + l] = double(lij);
            }
        }
        for (int64_t i = j + 1; i < b; ++i) rj[i] = 0.0f;
    }
    return true;
}

// Columns j0..j0+7 in the lanes. Row i of a lane's column sums p from j (its own column) to
// i - 1: terms at p < j are masked off rather than added as zeros.
__attribute__((target("avx512f"))) void inverse_avx512(const float *a, int64_t b, int64_t lda,
                                                       double *x) {
    std::memset(x, 0, sizeof(double) * size_t(b * b));
    for (int64_t j0 = 0; j0 < b; j0 += 8) {
        const int64_t lanes = b - j0 < 8 ? b - j0 : 8;
        const __mmask8 valid = __mmask8((1u << lanes) - 1u);
        const __m512i jl = _mm512_add_epi64(_mm512_set1_epi64(j0),
                                            _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
        for (int64_t i = j0; i < b; ++i) {
            __m512d s = _mm512_setzero_pd();
            for (int64_t p = j0; p < i; ++p) {
                const __mmask8 on = _mm512_cmple_epi64_mask(jl, _mm512_set1_epi64(p));
                const __m512d prod = _mm512_mul_pd(_mm512_set1_pd(double(a[i * lda + p])),
                                                   _mm512_maskz_loadu_pd(valid, x + p * b + j0));
                s = _mm512_mask_add_pd(s, on, s, prod);
            }
            const __m512d aii = _mm512_set1_pd(double(a[i * lda + i]));
            // -s by its sign bit, as the scalar negation (0 - s would turn -0 into +0).
            const __m512d neg = _mm512_castsi512_pd(_mm512_xor_si512(
                _mm512_castpd_si512(s), _mm512_set1_epi64(int64_t(0x8000000000000000ull))));
            const __m512d below = _mm512_div_pd(neg, aii);
            const __mmask8 lower = _mm512_cmplt_epi64_mask(jl, _mm512_set1_epi64(i)) & valid;
            _mm512_mask_storeu_pd(x + i * b + j0, lower, below);
            if (i < j0 + lanes) x[i * b + i] = 1.0 / double(a[i * lda + i]);
        }
    }
}
#endif

bool avx512() {
#ifdef GPTQ_BLOCKS_X86
    static const bool ok = [] {
        __builtin_cpu_init();
        return bool(__builtin_cpu_supports("avx512f"));
    }();
    return ok;
#else
    return false;
#endif
}

} // namespace

bool cholesky_block(float *a, int64_t b, int64_t lda, double *scratch) {
#ifdef GPTQ_BLOCKS_X86
    if (avx512()) {
        // Padding: the last lane group reads up to 7 entries past a row of xt.
        std::memset(scratch, 0, sizeof(double) * size_t(b * b + 8));
        return cholesky_block_avx512(a, b, lda, scratch);
    }
#endif
    return cholesky_block_generic(a, b, lda, scratch);
}

bool invert_lower_block(float *a, int64_t b, int64_t lda, double *x) {
#ifdef GPTQ_BLOCKS_X86
    if (avx512())
        inverse_avx512(a, b, lda, x);
    else
#endif
        inverse_generic(a, b, lda, x);
    for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < b; ++j) {
            const double v = x[i * b + j];
            if (!std::isfinite(v)) return false;
            a[i * lda + j] = float(v);
        }
    return true;
}

} // namespace gptq::cpu
