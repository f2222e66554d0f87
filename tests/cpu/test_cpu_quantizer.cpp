// White-box tests of gptq::find_params / quantize_code (docs/gptq-reference.md §4): hand-computed cases, the
// all-zero row, symmetric special cases, round-half-to-even, strides, and the MSE clipping
// search against a brute-force search written here.
#include "backends/cpu/group_range.h"
#include "core/quantizer.h"

#include <cmath>
#include <cstring>
#include <cstdio>
#include <random>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

using gptq::find_params;
using gptq::GroupParams;
using gptq::QuantOptions;

namespace {

QuantOptions opts(int bits, bool sym, bool mse = false) {
    QuantOptions o;
    o.bits = bits;
    o.sym = sym;
    o.mse = mse;
    return o;
}

// fp32 division kept out of constant folding so the expectation is computed like the code.
float div(float a, float b) {
    volatile float x = a, y = b;
    return x / y;
}

void test_hand_cases(void **) {
    // asym 4-bit, range [-1, 3]: scale 4/15, zero round(1 / (4/15)) = round(3.75) = 4.
    const float x1[] = {-1.0f, 0.5f, 3.0f, 2.0f};
    GroupParams p = find_params(x1, 4, 1, opts(4, false));
    assert_true(p.scale == div(4.0f, 15.0f));
    assert_true(p.zero == 4.0f);
    // Range always contains 0: all-positive row -> xmin = 0, zero = 0.
    const float x2[] = {0.5f, 2.0f};
    p = find_params(x2, 2, 1, opts(3, false));
    assert_true(p.scale == div(2.0f, 7.0f));
    assert_true(p.zero == 0.0f);
    // sym, negative-only row: xmax = |xmin| = 3, scale 6/15, zero (15+1)/2 = 8.
    const float x3[] = {-3.0f, -1.0f};
    p = find_params(x3, 2, 1, opts(4, true));
    assert_true(p.scale == div(6.0f, 15.0f));
    assert_true(p.zero == 8.0f);
    // sym, positive-only row: xmin stays 0 (the reference only mirrors a negative xmin), so
    // scale = xmax / maxq with zero 8: the top half of the grid clips. Reproduced as is.
    p = find_params(x2, 2, 1, opts(4, true));
    assert_true(p.scale == div(2.0f, 15.0f));
    assert_true(p.zero == 8.0f);
    assert_int_equal(gptq::quantize_code(2.0f, p, 15), 15);
    // sym zero points for every width: (maxq + 1) / 2.
    const int bits[] = {2, 3, 4, 8};
    const float zeros[] = {2.0f, 4.0f, 8.0f, 128.0f};
    for (int i = 0; i < 4; ++i) assert_true(find_params(x1, 4, 1, opts(bits[i], true)).zero == zeros[i]);
}

void test_all_zero_row(void **) {
    const float z[8] = {};
    for (int bits : {2, 3, 4, 8}) {
        const float maxq = float((1 << bits) - 1);
        GroupParams p = find_params(z, 8, 1, opts(bits, false));  // range becomes [-1, 1]
        assert_true(p.scale == div(2.0f, maxq));
        assert_true(p.zero == std::nearbyint(div(1.0f, div(2.0f, maxq))));
        p = find_params(z, 8, 1, opts(bits, true));
        assert_true(p.scale == div(2.0f, maxq));
        assert_true(p.zero == (maxq + 1.0f) / 2.0f);
        // Every zero weight maps to the zero point and back to exactly 0.
        assert_int_equal(gptq::quantize_code(0.0f, p, int(maxq)), int(p.zero));
        assert_true(gptq::quantize_value(0.0f, p, int(maxq)) == 0.0f);
        // MSE on an all-zero row must not produce NaN.
        p = find_params(z, 8, 1, opts(bits, false, true));
        assert_true(std::isfinite(p.scale) && p.scale > 0.0f);
    }
}

void test_round_half_even_and_clamp(void **) {
    const GroupParams p{1.0f, 2.0f};
    assert_int_equal(gptq::quantize_code(0.5f, p, 15), 2);   // 0.5 -> 0, +2
    assert_int_equal(gptq::quantize_code(1.5f, p, 15), 4);   // 1.5 -> 2, +2
    assert_int_equal(gptq::quantize_code(2.5f, p, 15), 4);   // 2.5 -> 2, +2
    assert_int_equal(gptq::quantize_code(-0.5f, p, 15), 2);  // -0.5 -> -0, +2
    assert_int_equal(gptq::quantize_code(-1.5f, p, 15), 0);  // -1.5 -> -2, +2
    assert_int_equal(gptq::quantize_code(-9.0f, p, 15), 0);  // clamp low
    assert_int_equal(gptq::quantize_code(99.0f, p, 15), 15); // clamp high
    assert_true(gptq::quantize_value(99.0f, p, 15) == 13.0f);
    // asym zero itself rounds half to even: range [-1, 3] with 3 bits -> scale 4/7,
    // -xmin/scale = 1.75 -> 2; range [-1.5, 2.5] with maxq 4 is not representable (bits),
    // so use 2 bits: scale 4/3, 1.5/(4/3) = 1.125 -> 1.
    const float x[] = {-1.5f, 2.5f};
    assert_true(find_params(x, 2, 1, opts(2, false)).zero == 1.0f);
}

void test_stride(void **) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    std::vector<float> m(16 * 5);
    for (auto &v : m) v = nd(rng);
    for (int c = 0; c < 5; ++c) {
        std::vector<float> col(16);
        for (int r = 0; r < 16; ++r) col[size_t(r)] = m[size_t(r * 5 + c)];
        for (bool mse : {false, true}) {
            const GroupParams a = find_params(m.data() + c, 16, 5, opts(3, false, mse));
            const GroupParams b = find_params(col.data(), 16, 1, opts(3, false, mse));
            assert_true(a.scale == b.scale && a.zero == b.zero);
        }
    }
}

// Brute-force MSE search (docs/gptq-reference.md §4), written independently: every shrink p, error in double.
GroupParams brute_mse(const std::vector<float> &x, const QuantOptions &o, double *best_err) {
    const float maxq = float(o.maxq());
    float xmin = 0, xmax = 0;
    for (float v : x) xmin = std::fmin(xmin, v), xmax = std::fmax(xmax, v);
    if (o.sym) {
        xmax = std::fmax(-xmin, xmax);
        if (xmin < 0) xmin = -xmax;
    }
    const float zsym = (maxq + 1.0f) / 2.0f;
    GroupParams best{};
    *best_err = INFINITY;
    const int steps = int(std::lround(double(o.mse_maxshrink) * o.mse_grid));
    for (int i = 0; i < steps; ++i) {
        const float p = float(1.0 - i / double(o.mse_grid));
        const float lo = p * xmin, hi = p * xmax;
        GroupParams c;
        c.scale = div(hi - lo, maxq);
        c.zero = o.sym ? zsym : std::nearbyint(div(-lo, c.scale));
        double e = 0;
        for (float v : x) {
            float q = std::nearbyint(div(v, c.scale)) + c.zero;
            q = std::fmin(std::fmax(q, 0.0f), maxq);
            e += std::pow(double(std::fabs(c.scale * (q - c.zero) - v)), double(o.mse_norm));
        }
        if (e < *best_err) *best_err = e, best = c;
    }
    return best;
}

void test_mse_search(void **) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    int checked = 0;
    for (int trial = 0; trial < 40; ++trial) {
        std::vector<float> x(64);
        for (auto &v : x) v = nd(rng);
        x[size_t(trial % 64)] *= 8.0f;  // an outlier makes clipping worthwhile
        const QuantOptions o = opts(trial % 2 ? 3 : 4, trial % 3 == 0, true);
        double err = 0;
        const GroupParams want = brute_mse(x, o, &err);
        const GroupParams got = find_params(x.data(), 64, 1, o);
        // The library sums powf terms, the brute force pow in double: identical choices
        // except when two shrink factors' errors tie to ~1e-6; then the errors must agree.
        if (got.scale == want.scale && got.zero == want.zero) {
            ++checked;
        } else {
            double egot = 0;
            for (float v : x)
                egot += std::pow(double(std::fabs(gptq::quantize_value(v, got, o.maxq()) - v)),
                                 double(o.mse_norm));
            assert_true(std::fabs(egot - err) <= 1e-5 * err);
        }
        if (o.sym) assert_true(got.zero == float((o.maxq() + 1) / 2));
        // The search never does worse than the plain min/max range (p = 1 is a candidate).
        QuantOptions plain = o;
        plain.mse = false;
        const GroupParams mm = find_params(x.data(), 64, 1, plain);
        double emm = 0, egot = 0;
        for (float v : x) {
            emm += std::pow(double(std::fabs(gptq::quantize_value(v, mm, o.maxq()) - v)), 2.4);
            egot += std::pow(double(std::fabs(gptq::quantize_value(v, got, o.maxq()) - v)), 2.4);
        }
        assert_true(egot <= emm * (1 + 1e-6));
        assert_true(got.scale <= mm.scale);
    }
    assert_true(checked >= 36);
}

// The CPU backend's vectorised range gives find_params's bits: every length across the
// 16-lane loop and its masked tail, slices with -0, +0, NaN, only positive, only negative
// and only zero values, and for sym/asym grids.
void test_group_range(void **) {
    std::mt19937_64 rng(17);
    std::normal_distribution<float> nd;
    const float nan = std::nanf("");
    for (int kind = 0; kind < 6; ++kind)
        for (int64_t len = 0; len <= 70; ++len) {
            std::vector<float> x(size_t(len) + 1);
            for (auto &v : x) {
                v = nd(rng);
                if (kind == 1) v = std::fabs(v);
                if (kind == 2) v = -std::fabs(v);
                if (kind == 3) v = (rng() & 1) ? -0.0f : 0.0f;
                if (kind == 4 && rng() % 5 == 0) v = nan;
                if (kind == 5 && rng() % 3 == 0) v = -0.0f;
            }
            float lo = 1.0f, hi = -1.0f;
            gptq::cpu::group_range(x.data(), len, &lo, &hi);
            for (bool sym : {false, true}) {
                gptq::QuantOptions o;
                o.sym = sym;
                const gptq::GroupParams want = gptq::find_params(x.data(), len, 1, o);
                const gptq::GroupParams got =
                    gptq::find_params_in_range(x.data(), len, 1, lo, hi, o);
                assert_memory_equal(&got.scale, &want.scale, sizeof(float));
                assert_memory_equal(&got.zero, &want.zero, sizeof(float));
            }
            // The range itself, sign of zero included.
            float rlo = 0.0f, rhi = 0.0f;
            for (int64_t i = 0; i < len; ++i) {
                rlo = x[size_t(i)] < rlo ? x[size_t(i)] : rlo;
                rhi = x[size_t(i)] > rhi ? x[size_t(i)] : rhi;
            }
            assert_memory_equal(&lo, &rlo, sizeof(float));
            assert_memory_equal(&hi, &rhi, sizeof(float));
        }
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_cases),
        cmocka_unit_test(test_all_zero_row),
        cmocka_unit_test(test_round_half_even_and_clamp),
        cmocka_unit_test(test_stride),
        cmocka_unit_test(test_mse_search),
        cmocka_unit_test(test_group_range),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
