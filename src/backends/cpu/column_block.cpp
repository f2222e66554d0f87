// 16 rows per AVX-512 register: see column_block.h. Compiled with -ffp-contract=off like
// the scalar loop; the intrinsics below are explicit multiplies and subtracts anyway.
#include "backends/cpu/column_block.h"

#include "core/error.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own undefined-vector
// placeholders (a false positive of the headers, not of this file).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#define GPTQ_COLUMN_BLOCK_X86 1
#endif

namespace gptq::cpu {

#ifdef GPTQ_COLUMN_BLOCK_X86
bool column_block_x16_available() {
    static const bool ok = [] {
        __builtin_cpu_init();
        return bool(__builtin_cpu_supports("avx512f"));
    }();
    return ok;
}

__attribute__((target("avx512f"))) void column_block_x16(const ColumnBlockArgs &a, int64_t i1,
                                                         int64_t i2, int64_t r0, float *t,
                                                         uint8_t *c, double *loss) {
    constexpr int64_t L = kColumnBlockRows;
    const int64_t len = i2 - i1, k = a.k;
    // The next 16 rows' block is far from this one in W (fresh from the trailing update,
    // mostly not in cache): start fetching it now, the column loop below hides the latency.
    if (r0 + 2 * L <= a.n)
        for (int64_t l = 0; l < L; ++l) {
            const float *next = a.w + (r0 + L + l) * k + i1;
            for (int64_t j = 0; j < len; j += 16)
                _mm_prefetch(reinterpret_cast<const char *>(next + j), _MM_HINT_T0);
        }
    // t[j][lane] = W[r0 + lane][i1 + j]: a block column is one register.
    for (int64_t l = 0; l < L; ++l) {
        const float *row = a.w + (r0 + l) * k + i1;
        for (int64_t j = 0; j < len; ++j) t[j * L + l] = row[j];
    }
    const __m512 zero_f = _mm512_setzero_ps(), maxq = _mm512_set1_ps(float(a.maxq));
    const __m512d half = _mm512_set1_pd(0.5);
    __m512d loss_lo = _mm512_setzero_pd(), loss_hi = _mm512_setzero_pd();
    for (int64_t i = 0; i < len; ++i) {
        const int64_t col = i1 + i, g = a.group_of[col];
        const __m512 scale = _mm512_loadu_ps(a.scales + g * a.n + r0);
        const __m512 zero = _mm512_cvtepi32_ps(_mm512_loadu_si512(a.zeros + g * a.n + r0));
        const __m512 x = _mm512_loadu_ps(t + i * L);
        // quantize_code: nearbyint(x / scale) + zero, clamped to [0, maxq] with NaN -> 0
        // (max/min return their second operand when the comparison is false, as the
        // scalar ternaries do).
        __m512 q = _mm512_roundscale_ps(_mm512_div_ps(x, scale),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, zero), zero_f), maxq);
        _mm_storeu_si128(reinterpret_cast<__m128i *>(c + i * L),
                         _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(q)));
        const __m512 deq = _mm512_mul_ps(scale, _mm512_sub_ps(q, zero));
        const float *urow = a.u + col * k;
        const __m512 d = _mm512_set1_ps(urow[col]);
        const __m512 diff = _mm512_sub_ps(x, deq);
        const __m512 err = _mm512_div_ps(diff, d);
        // loss += double(diff * diff / (d * d)) / 2, per lane in column order.
        const __m512 f = _mm512_div_ps(_mm512_mul_ps(diff, diff), _mm512_mul_ps(d, d));
        loss_lo = _mm512_add_pd(loss_lo,
                                _mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(f)), half));
        loss_hi = _mm512_add_pd(
            loss_hi, _mm512_mul_pd(_mm512_cvtps_pd(_mm256_castpd_ps(
                                       _mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))),
                                   half));
        _mm512_storeu_ps(t + i * L, err);
        const float *ub = urow + i1;
        for (int64_t j = i + 1; j < len; ++j) {
            const __m512 prod = _mm512_mul_ps(err, _mm512_set1_ps(ub[j]));
            _mm512_storeu_ps(t + j * L, _mm512_sub_ps(_mm512_loadu_ps(t + j * L), prod));
        }
    }
    for (int64_t l = 0; l < L; ++l) {
        float *row = a.w + (r0 + l) * k + i1;
        uint8_t *codes = a.codes + (r0 + l) * k + i1;
        for (int64_t j = 0; j < len; ++j) row[j] = t[j * L + l];
        for (int64_t j = 0; j < len; ++j) codes[j] = c[j * L + l];
    }
    alignas(64) double lsum[L];
    _mm512_store_pd(lsum, loss_lo);
    _mm512_store_pd(lsum + 8, loss_hi);
    for (int64_t l = 0; l < L; ++l) loss[l] += lsum[l];
}
#else
bool column_block_x16_available() { return false; }

void column_block_x16(const ColumnBlockArgs &, int64_t, int64_t, int64_t, float *, uint8_t *,
                      double *) {
    fail(GPTQ_ERR_INTERNAL, "column_block_x16: not built for this CPU");
}
#endif

} // namespace gptq::cpu
