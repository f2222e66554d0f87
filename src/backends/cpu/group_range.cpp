// find_params's loop keeps xmin = v < xmin ? v : xmin from +0 (and the mirror for xmax).
// vminps(v, acc) is exactly that expression (it returns its second operand when the
// comparison is false: for NaN and for equal zeros), so each lane holds that rule's result
// over its own subset, and the rule applied across the lanes gives the sequential result:
// the minimum of the values below 0, else +0 (-0 never replaces +0, NaN never enters).
// Masked-off lanes load +0, which the rule never takes.
#include "backends/cpu/group_range.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own undefined-vector
// placeholders (a false positive of the headers, not of this file).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#define GPTQ_GROUP_RANGE_X86 1
#endif

namespace gptq::cpu {

namespace {

void range_generic(const float *x, int64_t len, float *xmin, float *xmax) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < len; ++i) {
        const float v = x[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *xmin = lo, *xmax = hi;
}

#ifdef GPTQ_GROUP_RANGE_X86
__attribute__((target("avx512f"))) void range_avx512(const float *x, int64_t len, float *xmin,
                                                     float *xmax) {
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    if (i < len) {
        const __m512 v = _mm512_maskz_loadu_ps(__mmask16((1u << (len - i)) - 1u), x + i);
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    alignas(64) float l[16], h[16];
    _mm512_store_ps(l, lo);
    _mm512_store_ps(h, hi);
    float a = 0.0f, b = 0.0f;
    for (int j = 0; j < 16; ++j) {
        a = l[j] < a ? l[j] : a;
        b = h[j] > b ? h[j] : b;
    }
    *xmin = a, *xmax = b;
}

using RangeFn = void (*)(const float *, int64_t, float *, float *);

RangeFn choose() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? range_avx512 : range_generic;
}
#endif

} // namespace

void group_range(const float *x, int64_t len, float *xmin, float *xmax) {
#ifdef GPTQ_GROUP_RANGE_X86
    static const RangeFn fn = choose();
    fn(x, len, xmin, xmax);
#else
    range_generic(x, len, xmin, xmax);
#endif
}

} // namespace gptq::cpu
