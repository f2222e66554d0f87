// The device's inverse-Hessian factor chain: blocked Cholesky and U with H^-1 = U^T U.
// Tolerances (u = fp32 unit roundoff):
// - Cholesky is backward stable: L L^T = A + E with |E_ij| <= gamma_{k+1} (|L||L|^T)_ij
//   <= gamma_{k+1} sqrt(A_ii A_jj); checked on the residual, with a factor 2 for the
//   rounding of our own double check.
// - U on well-conditioned H = I + 0.1 B B^T / k (eigenvalues in [1, ~1.5]): every step is
//   backward stable and cond(H) <= 1.5, so the residual |U^T U H - I| stays below a small
//   multiple of k u; 16 k u leaves room for the three chained factorisations.
// - Against the CPU backend's factor (src/backends/cpu/cholesky.h) on the same H: both are
//   within that bound of the exact U, hence within twice of each other.
#include "vk_test_common.h"

#include "backends/cpu/cholesky.h"
#include "backends/vulkan/vk_factor.h"

using namespace vkt;

namespace {

std::vector<float> well_conditioned(int64_t k, uint64_t seed) {
    Rng r(seed);
    std::vector<double> b(size_t(k * k));
    for (auto &v : b) v = r.normal();
    std::vector<float> h(size_t(k * k));
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j <= i; ++j) {
            double s = 0.0;
            for (int64_t p = 0; p < k; ++p) s += b[size_t(i * k + p)] * b[size_t(j * k + p)];
            const float v = float(0.1 * s / double(k) + (i == j ? 1.0 : 0.0));
            h[size_t(i * k + j)] = h[size_t(j * k + i)] = v;
        }
    return h;
}

void test_cholesky_residual(void **) {
    for (int64_t k : {1, 2, 31, 32, 33, 100, 200}) {
        std::vector<float> a = well_conditioned(k, uint64_t(k));
        for (int64_t i = 0; i < k; ++i) a[size_t(i * k + i)] *= float(1 + i % 7);  // vary scale
        std::vector<float> l(size_t(k * k));
        assert_true(gptq::vk::device_cholesky(backend().context(), a.data(), k, l.data()));
        const double gamma = 2.0 * double(k + 1) * kU / (1.0 - double(k + 1) * kU);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                double s = 0.0;
                for (int64_t p = 0; p <= j; ++p) s += double(l[size_t(i * k + p)]) * l[size_t(j * k + p)];
                const double bound = gamma * std::sqrt(double(a[size_t(i * k + i)]) * a[size_t(j * k + j)]);
                if (!(std::fabs(s - a[size_t(i * k + j)]) <= bound)) {
                    std::fprintf(stderr, "k=%lld (L L^T - A)[%lld][%lld] = %g > %g\n", (long long)k,
                                 (long long)i, (long long)j, s - a[size_t(i * k + j)], bound);
                    fail();
                }
            }
    }
}

void test_inverse_factor(void **) {
    auto pool = nullptr;
    for (int64_t k : {1, 17, 32, 65, 130, 400}) {
        const std::vector<float> h = well_conditioned(k, 1000 + uint64_t(k));
        std::vector<float> u(size_t(k * k));
        assert_true(gptq::vk::device_inverse_factor(backend().context(), h.data(), k, u.data()));
        const double tol = 16.0 * double(k) * kU;
        // Upper triangular with an exact zero lower part.
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < i; ++j) assert_true(u[size_t(i * k + j)] == 0.0f);
        // Residual (U^T U) H - I.
        std::vector<double> hinv(size_t(k * k), 0.0);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
                double s = 0.0;
                for (int64_t p = 0; p <= std::min(i, j); ++p)
                    s += double(u[size_t(p * k + i)]) * u[size_t(p * k + j)];
                hinv[size_t(i * k + j)] = s;
            }
        double worst = 0.0;
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
                double s = 0.0;
                for (int64_t p = 0; p < k; ++p) s += hinv[size_t(i * k + p)] * h[size_t(p * k + j)];
                worst = std::fmax(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
            }
        if (!(worst <= tol)) {
            std::fprintf(stderr, "k=%lld: |U^T U H - I| = %g > %g\n", (long long)k, worst, tol);
            fail();
        }
        // Same factor as the CPU backend's.
        std::vector<float> uc = h;
        assert_true(gptq::cpu::gptq_inverse_factor(uc.data(), k, k, pool));
        double umax = 0.0, diff = 0.0;
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = i; j < k; ++j) {
                umax = std::fmax(umax, std::fabs(uc[size_t(i * k + j)]));
                diff = std::fmax(diff, std::fabs(double(u[size_t(i * k + j)]) - uc[size_t(i * k + j)]));
            }
        assert_true(diff <= 2.0 * tol * umax);
    }
}

// A failed pivot is reported through the flag, for indefinite and non-finite input.
void test_failure_flag(void **) {
    const int64_t k = 40;
    std::vector<float> a = well_conditioned(k, 7), l(size_t(k * k));
    std::vector<float> indefinite = a;
    indefinite[size_t(35 * k + 35)] = -1.0f;
    assert_false(gptq::vk::device_cholesky(backend().context(), indefinite.data(), k, l.data()));
    assert_false(gptq::vk::device_inverse_factor(backend().context(), indefinite.data(), k, l.data()));
    std::vector<float> nan = a;
    nan[size_t(3 * k + 2)] = nan[size_t(2 * k + 3)] = NAN;
    assert_false(gptq::vk::device_cholesky(backend().context(), nan.data(), k, l.data()));
    std::vector<float> singular(size_t(k * k), 1.0f);  // rank one
    assert_false(gptq::vk::device_inverse_factor(backend().context(), singular.data(), k, l.data()));
    // And a good matrix after failures still factors (flag is per call).
    assert_true(gptq::vk::device_cholesky(backend().context(), a.data(), k, l.data()));
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_cholesky_residual),
        cmocka_unit_test(test_inverse_factor),
        cmocka_unit_test(test_failure_flag),
    };
    return run("test_vk_factor", tests, sizeof tests / sizeof tests[0]);
}
