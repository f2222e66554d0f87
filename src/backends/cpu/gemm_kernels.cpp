// Micro-kernels of sgemm. Each keeps an mr x nr tile of C in registers for a whole packed
// k slice: the AVX-512 kernel 12 x 32 (24 zmm accumulators, two B vectors, a broadcast),
// the AVX2 kernel 6 x 16 (12 ymm accumulators). Every tile element is one fp32 FMA chain in
// p order, so the result depends only on the kernel, never on how tiles are scheduled.
#include "backends/cpu/gemm_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
#include <immintrin.h>
#define GPTQ_GEMM_X86 1
#endif

namespace gptq::cpu {

namespace {

constexpr int64_t kGenericMr = 6, kGenericNr = 16;

void kernel_generic(int64_t kc, const float *ap, const float *bp, int64_t ldb, float *c,
                    int64_t ldc, float alpha, float beta, TileMerge merge) {
    float acc[kGenericMr][kGenericNr] = {};
    for (int64_t p = 0; p < kc; ++p)
        for (int64_t r = 0; r < kGenericMr; ++r) {
            const float a = ap[p * kGenericMr + r];
            for (int64_t j = 0; j < kGenericNr; ++j) acc[r][j] += a * bp[p * ldb + j];
        }
    for (int64_t r = 0; r < kGenericMr; ++r) {
        float *crow = c + r * ldc;
        for (int64_t j = 0; j < kGenericNr; ++j) {
            const float t = alpha * acc[r][j];
            crow[j] = merge == TileMerge::Store ? t
                      : merge == TileMerge::Add ? crow[j] + t
                                                : t + beta * crow[j];
        }
    }
}

#ifdef GPTQ_GEMM_X86
constexpr int kAvx512Mr = 12, kAvx512Nr = 32;

__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float *ap,
                                                      const float *bp, int64_t ldb, float *c,
                                                      int64_t ldc, float alpha, float beta,
                                                      TileMerge merge) {
    __m512 acc0[kAvx512Mr], acc1[kAvx512Mr];
#pragma GCC unroll 12
    for (int r = 0; r < kAvx512Mr; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    // The C rows are usually far apart (a strided block of a big matrix): start fetching
    // them now so the k loop hides the latency.
    for (int r = 0; r < kAvx512Mr; ++r) {
        _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc + 16), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < kc; ++p) {
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 12
        for (int r = 0; r < kAvx512Mr; ++r) {
            const __m512 a = _mm512_set1_ps(ap[r]);
            acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
        }
        ap += kAvx512Mr;
        bp += ldb;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int r = 0; r < kAvx512Mr; ++r) {
        float *crow = c + r * ldc;
        __m512 t0 = _mm512_mul_ps(va, acc0[r]), t1 = _mm512_mul_ps(va, acc1[r]);
        if (merge == TileMerge::Add) {
            t0 = _mm512_add_ps(_mm512_loadu_ps(crow), t0);
            t1 = _mm512_add_ps(_mm512_loadu_ps(crow + 16), t1);
        } else if (merge == TileMerge::Scale) {
            t0 = _mm512_add_ps(t0, _mm512_mul_ps(vb, _mm512_loadu_ps(crow)));
            t1 = _mm512_add_ps(t1, _mm512_mul_ps(vb, _mm512_loadu_ps(crow + 16)));
        }
        _mm512_storeu_ps(crow, t0);
        _mm512_storeu_ps(crow + 16, t1);
    }
}

constexpr int kAvx2Mr = 6, kAvx2Nr = 16;

__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float *ap,
                                                     const float *bp, int64_t ldb, float *c,
                                                     int64_t ldc, float alpha, float beta,
                                                     TileMerge merge) {
    __m256 acc0[kAvx2Mr], acc1[kAvx2Mr];
#pragma GCC unroll 6
    for (int r = 0; r < kAvx2Mr; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    for (int r = 0; r < kAvx2Mr; ++r) {
        _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc + 15), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < kAvx2Mr; ++r) {
            const __m256 a = _mm256_broadcast_ss(ap + r);
            acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
        }
        ap += kAvx2Mr;
        bp += ldb;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int r = 0; r < kAvx2Mr; ++r) {
        float *crow = c + r * ldc;
        __m256 t0 = _mm256_mul_ps(va, acc0[r]), t1 = _mm256_mul_ps(va, acc1[r]);
        if (merge == TileMerge::Add) {
            t0 = _mm256_add_ps(_mm256_loadu_ps(crow), t0);
            t1 = _mm256_add_ps(_mm256_loadu_ps(crow + 8), t1);
        } else if (merge == TileMerge::Scale) {
            t0 = _mm256_add_ps(t0, _mm256_mul_ps(vb, _mm256_loadu_ps(crow)));
            t1 = _mm256_add_ps(t1, _mm256_mul_ps(vb, _mm256_loadu_ps(crow + 8)));
        }
        _mm256_storeu_ps(crow, t0);
        _mm256_storeu_ps(crow + 8, t1);
    }
}
#endif

GemmKernel choose() {
#ifdef GPTQ_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return {kernel_avx512, kAvx512Mr, kAvx512Nr, "avx512"};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {kernel_avx2, kAvx2Mr, kAvx2Nr, "avx2+fma"};
#endif
    return {kernel_generic, kGenericMr, kGenericNr, "generic"};
}

} // namespace

const GemmKernel &gemm_kernel() {
    static const GemmKernel k = choose();
    return k;
}

} // namespace gptq::cpu
