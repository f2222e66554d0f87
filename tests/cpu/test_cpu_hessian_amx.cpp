// White-box tests of the AMX Hessian update (src/backends/cpu/syrk_amx.h) against an exact
// double-precision X^T X, next to the fp32 kernel it replaces; and of its use by CpuHessian.
// Exits 77 (skipped) where the CPU or the OS gives no AMX, or the build has no x86 kernels.
//
// u = 2^-24. For an element, S = sum_t |x_ti x_tj| and E the exact sum. Bounds:
//  * fp32 kernel (sgemm_lower: fp32 FMA chains per 256-token slice, then added to H):
//    |H - E| <= (rows + 2) u S, the standard dot-product bound.
//  * AMX: each of the up-to-6 rows products per element is exact in fp32 (8 x 8 significand
//    bits); TDPBF16PS sums them with fp32 roundings in an order the SDM does not pin down
//    (measured: not a sequential round-to-nearest chain), so each of the ~6 rows additions
//    is allowed 2u (any faithful rounding), plus the dropped products m l + l m + l l
//    (< 2 * 2^-22 + 2^-30 of |x_i x_j|, about 8u S, see syrk_amx.h) and the add into H:
//    |H - E| <= (12 rows + 16) u S.
//  * "About as accurate as fp32": the largest |H - E| / S over the matrix is at most twice
//    the fp32 kernel's on the same data plus 32u. Dropping any kept product breaks this:
//    without m m (h h + h m + m h, the usual "bf16x3") the error is a systematic
//    ~E[|m/x|]^2 ~ 2^-17 = 128u of S (m has the sign of x, so it never averages out), which
//    test_bounds_can_fail shows against both bounds, as it shows that the kernel run with
//    two parts on fp32 data (no h l, l h) breaks the first bound.
#include "backends/cpu/cpu_hessian.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/syrk_amx.h"
#include "backends/cpu/thread_pool.h"
#include "core/half.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

using gptq::cpu::ThreadPool;

namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24
constexpr float kSentinel = -1234.5f;

// rows x k activations (row stride ldx) of very different magnitudes: column scales from
// 2^-20 to 2^20, a few rows scaled by 2^+-12, some exact zeros, full 24-bit significands.
std::vector<float> activations(int64_t rows, int64_t k, int64_t ldx, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd;
    std::uniform_int_distribution<int> col_exp(-20, 20), pick(0, 15);
    std::vector<int> ce(static_cast<size_t>(k));
    for (auto &e : ce) e = col_exp(rng);
    std::vector<float> x(size_t(rows * ldx), kSentinel);  // padding must not be read
    for (int64_t t = 0; t < rows; ++t) {
        const int re = pick(rng) == 0 ? 12 : pick(rng) == 0 ? -12 : 0;
        for (int64_t i = 0; i < k; ++i)
            x[size_t(t * ldx + i)] = pick(rng) == 0 ? 0.0f : std::ldexp(nd(rng), ce[i] + re);
    }
    return x;
}

struct Exact {
    std::vector<double> e, s;  // sum x_i x_j and sum |x_i x_j|, lower triangle, k x k
};

Exact exact_xtx(const float *x, int64_t rows, int64_t k, int64_t ldx) {
    Exact r{std::vector<double>(size_t(k * k)), std::vector<double>(size_t(k * k))};
    for (int64_t t = 0; t < rows; ++t)
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                const double p = double(x[t * ldx + i]) * double(x[t * ldx + j]);  // exact
                r.e[size_t(i * k + j)] += p;
                r.s[size_t(i * k + j)] += std::fabs(p);
            }
    return r;
}

// H starts as small random lower-triangle values (the update must add to them) and a
// sentinel elsewhere, with guard elements after k*k.
std::vector<float> initial_h(int64_t k) {
    std::vector<float> h(size_t(k * k + 64), kSentinel);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j <= i; ++j) h[size_t(i * k + j)] = float(((i * 7 + j * 3) % 5) - 2);
    return h;
}

struct Errors {
    double max_rel = 0;       // max |H - E| / S over the lower triangle, in units of u
    int64_t over_bound = 0;   // elements above c_rows * rows + c0 (in u S)
};

// |H - (h0 + E)| / S over the lower triangle, against the bound (c_rows rows + c0) u S.
Errors errors(const std::vector<float> &h, const std::vector<float> &h0, const Exact &ex,
              int64_t k, int64_t rows, double c_rows, double c0) {
    Errors r;
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j <= i; ++j) {
            const size_t at = size_t(i * k + j);
            const double want = double(h0[at]) + ex.e[at];
            const double s = ex.s[at] + std::fabs(double(h0[at]));  // h0 adds one rounding
            const double err = std::fabs(double(h[at]) - want);
            if (s > 0) r.max_rel = std::max(r.max_rel, err / s / kU);
            if (!(err <= (c_rows * double(rows) + c0) * kU * s + 1e-30)) ++r.over_bound;
        }
    return r;
}

// Above the diagonal only the diagonal's own 32 x 32 blocks may change; guards never.
void check_untouched(const std::vector<float> &h, int64_t k, const char *what) {
    int64_t bad = 0;
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i + 1; j < k; ++j)
            if (i / 32 != j / 32 && h[size_t(i * k + j)] != kSentinel) ++bad;
    for (size_t g = size_t(k * k); g < h.size(); ++g)
        if (h[g] != kSentinel) ++bad;
    if (bad)
        std::fprintf(stderr, "%s: %lld elements outside the update changed\n", what,
                     (long long)bad);
    assert_int_equal(bad, 0);
}

std::vector<float> amx_update(const std::vector<float> &x, int64_t rows, int64_t k, int64_t ldx,
                              int parts, ThreadPool *pool) {
    std::vector<float> h = initial_h(k);
    std::vector<uint16_t> ws;
    gptq::cpu::syrk_lower_amx(h.data(), k, x.data(), ldx, rows, parts, &ws, pool);
    return h;
}

std::vector<float> fp32_update(const std::vector<float> &x, int64_t rows, int64_t k, int64_t ldx,
                               ThreadPool *pool) {
    std::vector<float> h = initial_h(k);
    gptq::cpu::sgemm_lower(true, false, k, rows, 1.0f, x.data(), ldx, x.data(), ldx, 1.0f,
                           h.data(), k, pool);
    return h;
}

void test_shapes_against_exact(void **) {
    ThreadPool pool(2);
    // Every k with every row count, k = 600 (several bands, one partial), k = 1100 (a band
    // of 35 block columns, cut into two tasks) and 2100 tokens (two whole chunks of 1024 and
    // a partial one).
    std::vector<std::pair<int64_t, int64_t>> shapes = {{600, 45}, {1100, 33}, {70, 2100}};
    for (const int64_t k : {1, 15, 17, 100, 257})
        for (const int64_t rows : {1, 31, 33, 300}) shapes.emplace_back(k, rows);
    double worst_amx = 0, worst_fp32 = 0;
    for (const auto &[k, rows] : shapes) {
        const int64_t ldx = k + 3;
        const auto x = activations(rows, k, ldx, uint64_t(k * 1000 + rows));
        const Exact ex = exact_xtx(x.data(), rows, k, ldx);
        const auto h0 = initial_h(k);
        const auto h_amx = amx_update(x, rows, k, ldx, 3, &pool);
        const auto h_fp32 = fp32_update(x, rows, k, ldx, &pool);
        const Errors ea = errors(h_amx, h0, ex, k, rows, 12, 16);
        const Errors ef = errors(h_fp32, h0, ex, k, rows, 1, 2);
        std::printf("k %3lld rows %3lld: max |H - E| / S = %6.2f u (AMX), %6.2f u (fp32)\n",
                    (long long)k, (long long)rows, ea.max_rel, ef.max_rel);
        if (ea.over_bound || ef.over_bound || ea.max_rel > 2 * ef.max_rel + 32)
            std::fprintf(stderr, "k %lld rows %lld: %lld AMX / %lld fp32 elements over bound\n",
                         (long long)k, (long long)rows, (long long)ea.over_bound,
                         (long long)ef.over_bound);
        assert_int_equal(ea.over_bound, 0);
        assert_int_equal(ef.over_bound, 0);
        assert_true(ea.max_rel <= 2 * ef.max_rel + 32);
        check_untouched(h_amx, k, "AMX update");
        worst_amx = std::max(worst_amx, ea.max_rel);
        worst_fp32 = std::max(worst_fp32, ef.max_rel);
    }
    std::printf("worst over all shapes: %.2f u (AMX), %.2f u (fp32)\n", worst_amx, worst_fp32);
}

// The test's own split of x into h (truncated), m (rest rounded to nearest), as syrk_amx.h
// describes, written independently with bit operations on the scalar.
void split_hm(float x, double *h, double *m) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    b &= 0xFFFF0000u;
    float hf;
    std::memcpy(&hf, &b, 4);
    const float r = x - hf;  // exact
    uint32_t rb;
    std::memcpy(&rb, &r, 4);
    rb = (rb + 0x7FFFu + ((rb >> 16) & 1u)) & 0xFFFF0000u;
    float mf;
    std::memcpy(&mf, &rb, 4);
    *h = hf;
    *m = mf;
}

void test_bounds_can_fail(void **) {
    ThreadPool pool(2);
    // (1) The kernel with two parts on fp32 data drops h l + l h (up to ~2^-14 of |x_i x_j|):
    // over the per-element bound at one token.
    {
        const int64_t k = 64, rows = 1;
        const auto x = activations(rows, k, k, 99);
        const Exact ex = exact_xtx(x.data(), rows, k, k);
        const auto h0 = initial_h(k);
        const Errors e2 = errors(amx_update(x, rows, k, k, 2, &pool), h0, ex, k, rows, 12, 16);
        const Errors e3 = errors(amx_update(x, rows, k, k, 3, &pool), h0, ex, k, rows, 12, 16);
        std::printf("one token, k 64: 2 parts %lld elements over the bound (max %.1f u), "
                    "3 parts %lld\n",
                    (long long)e2.over_bound, e2.max_rel, (long long)e3.over_bound);
        assert_true(e2.over_bound > 0);
        assert_int_equal(e3.over_bound, 0);
    }
    // (2) h h + h m + m h summed exactly (no rounding at all) still breaks "as accurate as
    // fp32" at 300 tokens: the dropped m m is systematic.
    {
        const int64_t k = 100, rows = 300;
        const auto x = activations(rows, k, k, 7);
        const Exact ex = exact_xtx(x.data(), rows, k, k);
        std::vector<float> h3 = initial_h(k);
        const auto h0 = initial_h(k);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                double sum = h0[size_t(i * k + j)];
                for (int64_t t = 0; t < rows; ++t) {
                    double hi, mi, hj, mj;
                    split_hm(x[size_t(t * k + i)], &hi, &mi);
                    split_hm(x[size_t(t * k + j)], &hj, &mj);
                    sum += hi * hj + hi * mj + mi * hj;
                }
                h3[size_t(i * k + j)] = float(sum);
            }
        const Errors e3p = errors(h3, h0, ex, k, rows, 12, 16);
        const Errors ef = errors(fp32_update(x, rows, k, k, &pool), h0, ex, k, rows, 1, 2);
        const Errors ea = errors(amx_update(x, rows, k, k, 3, &pool), h0, ex, k, rows, 12, 16);
        std::printf("k 100, 300 tokens: 3 products %.1f u, fp32 %.1f u, AMX %.1f u\n",
                    e3p.max_rel, ef.max_rel, ea.max_rel);
        assert_true(e3p.max_rel > 2 * ef.max_rel + 32);
        assert_true(ea.max_rel <= 2 * ef.max_rel + 32);
    }
}

void test_thread_count_invariance(void **) {
    for (const int64_t k : {257, 600, 1100}) {  // 1100: a band cut into two tasks
        const int64_t rows = 300, ldx = k + 3;
        const auto x = activations(rows, k, ldx, 5);
        const auto h1 = amx_update(x, rows, k, ldx, 3, nullptr);
        for (int threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            const auto h = amx_update(x, rows, k, ldx, 3, &pool);
            assert_memory_equal(h.data(), h1.data(), h.size() * sizeof(float));
        }
    }
}

// CpuHessian takes the AMX path by default (for shapes above the threshold) and the fp32 one
// under GPTQ_CPU_NO_AMX=1, bit for bit as calling either kernel directly.
void test_dispatch_and_env(void **) {
    ThreadPool pool(2);
    const int64_t k = 150, rows = 300;
    const auto x = activations(rows, k, k, 11);
    auto via_hessian = [&] {
        gptq::cpu::CpuHessian hess(k, &pool);
        hess.add(x.data(), GPTQ_DTYPE_F32, rows, k);
        const auto v = hess.view();
        return std::vector<float>(v.data, v.data + k * k);
    };
    auto lower_equal = [&](const std::vector<float> &a, const std::vector<float> &b) {
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j <= i; ++j)
                if (std::memcmp(&a[size_t(i * k + j)], &b[size_t(i * k + j)], 4) != 0) return false;
        return true;
    };
    std::vector<float> amx(size_t(k * k), 0.0f), fp32(size_t(k * k), 0.0f);
    std::vector<uint16_t> ws;
    gptq::cpu::syrk_lower_amx(amx.data(), k, x.data(), k, rows, 3, &ws, &pool);
    gptq::cpu::sgemm_lower(true, false, k, rows, 1.0f, x.data(), k, x.data(), k, 1.0f, fp32.data(),
                           k, &pool);
    assert_false(lower_equal(amx, fp32));  // the two kernels round differently

    assert_int_equal(unsetenv("GPTQ_CPU_NO_AMX"), 0);
    assert_true(gptq::cpu::amx_hessian_enabled(k, rows));
    assert_false(gptq::cpu::amx_hessian_enabled(k, 1));  // too small to gain
    assert_false(gptq::cpu::amx_hessian_enabled(16, rows));
    assert_true(lower_equal(via_hessian(), amx));
    assert_int_equal(setenv("GPTQ_CPU_NO_AMX", "1", 1), 0);
    assert_false(gptq::cpu::amx_hessian_enabled(k, rows));
    assert_true(lower_equal(via_hessian(), fp32));
    assert_int_equal(unsetenv("GPTQ_CPU_NO_AMX"), 0);
}

// CpuHessian sums the AMX path in chunks counted from the first token, whatever the batches:
// the same 2100 tokens in one call or in eight uneven ones give the same bits (no read in
// between), and a read part-way (which sums the pending partial chunk) stays within the
// bound of the exact sum.
void test_batching_invariance(void **) {
    ThreadPool pool(2);
    const int64_t k = 150, rows = 2100;
    const auto x = activations(rows, k, k, 21);
    const int64_t batches[] = {1, 37, 256, 5, 300, 129, 1000, 372};
    auto lower_of = [&](const gptq::cpu::CpuHessian &h) {
        const auto v = h.view();
        std::vector<float> out(size_t(k * k), 0.0f);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j <= i; ++j) out[size_t(i * k + j)] = v.data[i * k + j];
        return out;
    };
    gptq::cpu::CpuHessian whole(k, &pool), batched(k, &pool), read_midway(k, &pool);
    whole.add(x.data(), GPTQ_DTYPE_F32, rows, k);
    int64_t r = 0;
    for (int b = 0; b < 8; ++b) {
        batched.add(x.data() + r * k, GPTQ_DTYPE_F32, batches[b], k);
        read_midway.add(x.data() + r * k, GPTQ_DTYPE_F32, batches[b], k);
        if (b == 2) (void)read_midway.view();
        r += batches[b];
    }
    assert_int_equal(r, rows);
    const auto a = lower_of(whole), b = lower_of(batched), m = lower_of(read_midway);
    assert_memory_equal(a.data(), b.data(), a.size() * sizeof(float));
    const Exact ex = exact_xtx(x.data(), rows, k, k);
    const std::vector<float> zero(size_t(k * k), 0.0f);
    assert_int_equal(errors(a, zero, ex, k, rows, 12, 16).over_bound, 0);
    assert_int_equal(errors(m, zero, ex, k, rows, 12, 16).over_bound, 0);
}

// F16 (two parts) and BF16 (one part) inputs through CpuHessian: within the AMX bound of the
// exact sum of the 16-bit values (with 4 or 1 products per token the bound is generous, and
// no product is dropped for these dtypes).
void test_half_inputs(void **) {
    ThreadPool pool(2);
    const int64_t k = 150, rows = 300;
    for (gptq_dtype dt : {GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16}) {
        std::mt19937_64 rng(dt);
        std::normal_distribution<float> nd;
        std::vector<uint16_t> x16(size_t(rows * k));
        std::vector<float> xf(size_t(rows * k));
        for (size_t i = 0; i < x16.size(); ++i) {
            const float v = nd(rng) * float(1 + i % 7);
            x16[i] = dt == GPTQ_DTYPE_F16 ? gptq::f32_to_f16(v) : gptq::f32_to_bf16(v);
            xf[i] = dt == GPTQ_DTYPE_F16 ? gptq::f16_to_f32(x16[i]) : gptq::bf16_to_f32(x16[i]);
        }
        gptq::cpu::CpuHessian hess(k, &pool);
        hess.add(x16.data(), dt, rows, k);
        const auto v = hess.view();
        const std::vector<float> h(v.data, v.data + k * k), zero(size_t(k * k), 0.0f);
        const Exact ex = exact_xtx(xf.data(), rows, k, k);
        const Errors e = errors(h, zero, ex, k, rows, 12, 16);
        std::printf("%s: max |H - E| / S = %.2f u\n", dt == GPTQ_DTYPE_F16 ? "F16" : "BF16",
                    e.max_rel);
        assert_int_equal(e.over_bound, 0);
        // The AMX path with 2 (F16) or 1 (BF16) parts, bit for bit.
        assert_true(gptq::cpu::amx_hessian_enabled(k, rows));
        std::vector<float> direct(size_t(k * k), 0.0f);
        std::vector<uint16_t> ws;
        gptq::cpu::syrk_lower_amx(direct.data(), k, xf.data(), k, rows,
                                  dt == GPTQ_DTYPE_F16 ? 2 : 1, &ws, &pool);
        for (int64_t i = 0; i < k; ++i)
            assert_memory_equal(&h[size_t(i * k)], &direct[size_t(i * k)], size_t(i + 1) * 4);
    }
}

} // namespace

int main() {
    if (!gptq::cpu::amx_supported()) {
        std::printf("AMX-BF16 unavailable here (CPU, OS permission, or a build without the x86 "
                    "kernels): skipping the AMX Hessian tests\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_against_exact),
        cmocka_unit_test(test_bounds_can_fail),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_dispatch_and_env),
        cmocka_unit_test(test_half_inputs),
        cmocka_unit_test(test_batching_invariance),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
