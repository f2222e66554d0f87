// The device's inverse-Hessian factor: the Cholesky of the reversed matrix and
// U with H^-1 = U^T U, against naive double-precision code and the CPU backend.
// Tolerances (u = fp32 unit roundoff):
// - Cholesky is backward stable: R R^T = A + E with |E_ij| <= gamma_{k+1} (|R||R|^T)_ij
//   <= gamma_{k+1} sqrt(A_ii A_jj), in whatever order the factorisation runs (here the
//   reversed one, A = R R^T with R upper); checked on the residual, with a factor 2 for the
//   rounding of our own double check.
// - U on well-conditioned H = I + 0.1 B B^T / k (eigenvalues in [1, ~1.5]): the Cholesky and
//   the triangular inverse are backward stable and cond(H) <= 1.5, so the residual
//   |U^T U H - I| and the error against the exact U (computed in double by the reference's
//   own route: Cholesky, inverse, upper Cholesky of the inverse) stay below a small
//   multiple of k u; 16 k u (times max |U| for the latter) leaves ample room.
// - Against the CPU backend's factor (src/backends/cpu/cholesky.h) on the same H: both are
//   within that bound of the exact U, hence within twice of each other.
// Sizes cross the kernels' block size (64): one partial block, exact blocks, a partial last
// block, several panels and inverse row blocks; both staging widths the host may pick (TK =
// 32 fits every device, 64 needs 32 KiB of shared memory) run where the device allows.
#include "vk_test_common.h"

#include "backends/cpu/cholesky.h"
#include "backends/vulkan/vk_factor.h"

using namespace vkt;

namespace {

// The kernels' staging widths this device can run.
std::vector<uint32_t> steps() {
    std::vector<uint32_t> s{gptq::vk::kFactorStepMin};
    if (backend().context().device.props().limits.maxComputeSharedMemorySize >=
        gptq::vk::factor_shared_bytes(gptq::vk::kFactorStepWide))
        s.push_back(gptq::vk::kFactorStepWide);
    return s;
}

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

// Lower Cholesky factor of a symmetric matrix in double (plain textbook loops).
std::vector<double> naive_cholesky(const std::vector<double> &a, int64_t k) {
    std::vector<double> l(size_t(k * k), 0.0);
    for (int64_t j = 0; j < k; ++j) {
        double d = a[size_t(j * k + j)];
        for (int64_t p = 0; p < j; ++p) d -= l[size_t(j * k + p)] * l[size_t(j * k + p)];
        l[size_t(j * k + j)] = std::sqrt(d);
        for (int64_t i = j + 1; i < k; ++i) {
            double s = a[size_t(i * k + j)];
            for (int64_t p = 0; p < j; ++p) s -= l[size_t(i * k + p)] * l[size_t(j * k + p)];
            l[size_t(i * k + j)] = s / l[size_t(j * k + j)];
        }
    }
    return l;
}

// The reference's route to U in double: H = L L^T, Hinv = L^-T L^-1, Hinv = U^T U.
std::vector<double> naive_inverse_factor(const std::vector<float> &h, int64_t k) {
    const std::vector<double> l = naive_cholesky(std::vector<double>(h.begin(), h.end()), k);
    std::vector<double> li(size_t(k * k), 0.0);  // L^-1 by forward substitution
    for (int64_t j = 0; j < k; ++j) {
        li[size_t(j * k + j)] = 1.0 / l[size_t(j * k + j)];
        for (int64_t i = j + 1; i < k; ++i) {
            double s = 0.0;
            for (int64_t p = j; p < i; ++p) s += l[size_t(i * k + p)] * li[size_t(p * k + j)];
            li[size_t(i * k + j)] = -s / l[size_t(i * k + i)];
        }
    }
    std::vector<double> hinv(size_t(k * k), 0.0);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            double s = 0.0;
            for (int64_t p = std::max(i, j); p < k; ++p) s += li[size_t(p * k + i)] * li[size_t(p * k + j)];
            hinv[size_t(i * k + j)] = s;
        }
    // Upper Cholesky: Hinv = U^T U with U = (lower factor)^T.
    const std::vector<double> l2 = naive_cholesky(hinv, k);
    std::vector<double> u(size_t(k * k), 0.0);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = i; j < k; ++j) u[size_t(i * k + j)] = l2[size_t(j * k + i)];
    return u;
}

void test_reversed_cholesky_residual(void **) {
    for (uint32_t step : steps())
    for (int64_t k : {1, 2, 31, 64, 65, 100, 129, 200}) {
        std::vector<float> a = well_conditioned(k, uint64_t(k));
        for (int64_t i = 0; i < k; ++i) a[size_t(i * k + i)] *= float(1 + i % 7);  // vary scale
        std::vector<float> r(size_t(k * k));
        assert_true(gptq::vk::device_reversed_cholesky(backend().context(), a.data(), k, r.data(), step));
        const double gamma = 2.0 * double(k + 1) * kU / (1.0 - double(k + 1) * kU);
        for (int64_t i = 0; i < k; ++i) {
            assert_true(r[size_t(i * k + i)] > 0.0f);
            // The lower triangle still holds the input (it is what the kernels read).
            for (int64_t j = 0; j < i; ++j) assert_true(r[size_t(i * k + j)] == a[size_t(i * k + j)]);
            for (int64_t j = 0; j <= i; ++j) {
                double s = 0.0;  // (R R^T)[i][j], R upper: p >= max(i, j) = i
                for (int64_t p = i; p < k; ++p) s += double(r[size_t(i * k + p)]) * r[size_t(j * k + p)];
                const double bound = gamma * std::sqrt(double(a[size_t(i * k + i)]) * a[size_t(j * k + j)]);
                if (!(std::fabs(s - a[size_t(i * k + j)]) <= bound)) {
                    std::fprintf(stderr, "k=%lld (R R^T - A)[%lld][%lld] = %g > %g\n", (long long)k,
                                 (long long)i, (long long)j, s - a[size_t(i * k + j)], bound);
                    fail();
                }
            }
        }
    }
}

void test_inverse_factor(void **) {
    auto pool = nullptr;
    for (uint32_t step : steps())
    for (int64_t k : {1, 17, 64, 65, 130, 257, 400}) {
        const std::vector<float> h = well_conditioned(k, 1000 + uint64_t(k));
        std::vector<float> u(size_t(k * k));
        assert_true(gptq::vk::device_inverse_factor(backend().context(), h.data(), k, u.data(), step));
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
        // The exact U (the reference's three-step route, in double) and the CPU backend's.
        const std::vector<double> exact = naive_inverse_factor(h, k);
        std::vector<float> uc = h;
        assert_true(gptq::cpu::gptq_inverse_factor(uc.data(), k, k, pool));
        double umax = 0.0, err = 0.0, diff = 0.0;
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = i; j < k; ++j) {
                const size_t e = size_t(i * k + j);
                umax = std::fmax(umax, std::fabs(exact[e]));
                err = std::fmax(err, std::fabs(double(u[e]) - exact[e]));
                diff = std::fmax(diff, std::fabs(double(u[e]) - uc[e]));
            }
        if (!(err <= tol * umax) || !(diff <= 2.0 * tol * umax)) {
            std::fprintf(stderr, "k=%lld: |U - exact| = %g, |U - CPU| = %g, bound %g\n",
                         (long long)k, err, diff, tol * umax);
            fail();
        }
    }
}

// A failed pivot is reported through the flag, for indefinite and non-finite input, in the
// first, a middle and the last (partial) block of the reversed order, and a good matrix
// factors after failures (the flag is per call).
void test_failure_flag(void **) {
    auto &ctx = backend().context();
    for (int64_t k : {40, 150}) {
        std::vector<float> a = well_conditioned(k, 7), out(size_t(k * k));
        for (int64_t bad : {int64_t(0), k / 2, k - 1}) {
            std::vector<float> indefinite = a;
            indefinite[size_t(bad * k + bad)] = -1.0f;
            assert_false(gptq::vk::device_reversed_cholesky(ctx, indefinite.data(), k, out.data()));
            assert_false(gptq::vk::device_inverse_factor(ctx, indefinite.data(), k, out.data()));
            std::vector<float> nan = a;
            const int64_t other = (bad + 1) % k;
            nan[size_t(bad * k + other)] = nan[size_t(other * k + bad)] = NAN;
            assert_false(gptq::vk::device_inverse_factor(ctx, nan.data(), k, out.data()));
        }
        std::vector<float> singular(size_t(k * k), 1.0f);  // rank one
        assert_false(gptq::vk::device_inverse_factor(ctx, singular.data(), k, out.data()));
        assert_true(gptq::vk::device_reversed_cholesky(ctx, a.data(), k, out.data()));
        assert_true(gptq::vk::device_inverse_factor(ctx, a.data(), k, out.data()));
    }
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_reversed_cholesky_residual),
        cmocka_unit_test(test_inverse_factor),
        cmocka_unit_test(test_failure_flag),
    };
    return run("test_vk_factor", tests, sizeof tests / sizeof tests[0]);
}
