// subtract_scaled: one loop body compiled per instruction set (the library is built for the
// baseline ISA) and chosen once at run time. This file is compiled with -ffp-contract=off,
// and the product and the difference are separate statements as well, so no compiler
// contracts them into an FMA.
#include "backends/cpu/error_feedback.h"

namespace gptq::cpu {

namespace {

inline __attribute__((always_inline)) void body(float *__restrict t, const float *__restrict u,
                                                float e, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        const float prod = e * u[j];
        t[j] = t[j] - prod;
    }
}

void generic(float *t, const float *u, float e, int64_t n) { body(t, u, e, n); }

using Fn = void (*)(float *, const float *, float, int64_t);
struct Variant {
    Fn fn;
    const char *name;
};

#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTQ_CPU_GENERIC_ONLY)
__attribute__((target("avx512f"))) void avx512(float *t, const float *u, float e, int64_t n) {
    body(t, u, e, n);
}
__attribute__((target("avx2"))) void avx2(float *t, const float *u, float e, int64_t n) {
    body(t, u, e, n);
}

Variant choose() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return {avx512, "avx512"};
    if (__builtin_cpu_supports("avx2")) return {avx2, "avx2"};
    return {generic, "generic"};
}
#else
Variant choose() { return {generic, "generic"}; }
#endif

const Variant &variant() {
    static const Variant v = choose();
    return v;
}

} // namespace

void subtract_scaled(float *t, const float *u, float e, int64_t n) { variant().fn(t, u, e, n); }

const char *subtract_scaled_variant() { return variant().name; }

} // namespace gptq::cpu
