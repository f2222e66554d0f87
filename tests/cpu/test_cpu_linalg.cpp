// White-box tests of the CPU backend's numeric kernels: GEMM, thread pool, blocked
// Cholesky / triangular inverse / GPTQ inverse factor, against textbook double references.
// u = 2^-24 is the fp32 unit roundoff throughout.
#include "backends/cpu/cholesky.h"
#include "backends/cpu/cholesky_blocks.h"
#include "backends/cpu/error_feedback.h"
#include "backends/cpu/gemm.h"
#include "backends/cpu/thread_pool.h"
#include "linalg_ref.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
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

std::vector<float> random_floats(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto &x : v) x = ud(rng);
    return v;
}

// C = alpha op(A) op(B) + beta C against a double reference, for one shape. Tolerance per
// element from the standard dot-product bound |err| <= gamma_k * sum |a||b| (k + 2 terms to
// cover the alpha/beta scaling and the final rounding).
void check_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta,
                ThreadPool *pool) {
    const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
    const auto a = random_floats(size_t((ta ? k : m) * lda), 1 + m);
    const auto b = random_floats(size_t((tb ? n : k) * ldb), 2 + n);
    auto c = random_floats(size_t(m * ldc), 3 + k);
    if (beta == 0.0f)  // beta == 0 must not read C: poison it
        for (auto &x : c) x = std::numeric_limits<float>::quiet_NaN();
    const auto c0 = c;
    gptq::cpu::sgemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc,
                     pool);
    int bad = 0;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0, sabs = 0;
            for (int64_t p = 0; p < k; ++p) {
                const double av = ta ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)];
                const double bv = tb ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)];
                s += av * bv;
                sabs += std::fabs(av * bv);
            }
            double want = alpha * s, bound = std::fabs(alpha) * sabs;
            if (beta != 0.0f) {
                want += beta * double(c0[size_t(i * ldc + j)]);
                bound += std::fabs(beta * double(c0[size_t(i * ldc + j)]));
            }
            const double tol = double(k + 2) * kU * bound + 1e-30;
            const double got = c[size_t(i * ldc + j)];
            if (!(std::fabs(got - want) <= tol) && bad++ < 5)
                std::fprintf(stderr, "gemm ta=%d tb=%d %lldx%lldx%lld (%lld,%lld): %g vs %g\n",
                             ta, tb, (long long)m, (long long)n, (long long)k, (long long)i,
                             (long long)j, got, want);
        }
    // Padding columns of C beyond n stay untouched.
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = n; j < ldc; ++j) {
            const float got = c[size_t(i * ldc + j)], was = c0[size_t(i * ldc + j)];
            if (!(got == was || (std::isnan(got) && std::isnan(was)))) ++bad;
        }
    assert_int_equal(bad, 0);
}

void test_gemm_shapes(void **) {
    ThreadPool pool(2);
    const int64_t shapes[][3] = {{1, 1, 1},   {7, 5, 3},    {6, 16, 256}, {97, 131, 259},
                                 {13, 300, 1}, {200, 17, 513}, {1, 260, 70}, {10, 1000, 300}};
    for (const auto &s : shapes)
        for (int t = 0; t < 4; ++t) {
            check_gemm(t & 1, t & 2, s[0], s[1], s[2], 1.0f, 0.0f, &pool);
            check_gemm(t & 1, t & 2, s[0], s[1], s[2], -0.75f, 1.0f, &pool);
        }
    check_gemm(false, false, 33, 45, 57, 2.0f, 0.5f, nullptr);
    check_gemm(false, false, 3, 4, 0, 1.0f, 0.5f, nullptr);  // empty sum: C = beta C
}

// sgemm_lower: the lower triangle as sgemm computes it (bit for bit: same slices, same
// kernel), and the strict upper triangle untouched beyond one row block of the diagonal.
int gemm_lower_errors(bool ta, bool tb, int64_t n, int64_t k, float beta) {
    ThreadPool pool(2);
    const int64_t lda = (ta ? n : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    const auto a = random_floats(size_t((ta ? k : n) * lda), 11 + n);
    const auto b = random_floats(size_t((tb ? n : k) * ldb), 12 + n);
    const auto c0 = random_floats(size_t(n * ldc), 13 + k);
    auto full = c0, low = c0;
    gptq::cpu::sgemm(ta, tb, n, n, k, 0.5f, a.data(), lda, b.data(), ldb, beta, full.data(), ldc,
                     &pool);
    gptq::cpu::sgemm_lower(ta, tb, n, k, 0.5f, a.data(), lda, b.data(), ldb, beta, low.data(),
                           ldc, &pool);
    int bad = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
            const size_t e = size_t(i * ldc + j);
            if (j <= i) bad += low[e] != full[e];
            else if (j >= n || j > i + gptq::cpu::kSgemmLowerReach) bad += low[e] != c0[e];
        }
    return bad;
}

void test_gemm_lower(void **) {
    for (int t = 0; t < 4; ++t) {
        assert_int_equal(gemm_lower_errors(t & 1, t & 2, 700, 300, 1.0f), 0);
        assert_int_equal(gemm_lower_errors(t & 1, t & 2, 37, 5, 0.0f), 0);
    }
    assert_int_equal(gemm_lower_errors(true, false, 450, 600, 0.25f), 0);
}

// sgemm_lower_a: a lower-triangular A (zeros above its diagonal) gives sgemm's bits, for
// every thread count, with the k slices past a row block's diagonal end skipped; C's padding
// columns untouched. m spans several 192-row blocks and 256-deep k slices, and ends inside
// both.
void test_gemm_lower_a(void **) {
    for (int64_t m : {int64_t(1), int64_t(45), int64_t(700)}) {
        const int64_t n = 70, lda = m + 3, ldb = n + 1, ldc = n + 2;
        auto a = random_floats(size_t(m * lda), 31 + m);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t p = i + 1; p < m; ++p) a[size_t(i * lda + p)] = 0.0f;
        const auto b = random_floats(size_t(m * ldb), 32);
        const auto c0 = random_floats(size_t(m * ldc), 33);
        for (float beta : {0.0f, 1.0f}) {
            auto want = c0;
            gptq::cpu::sgemm(false, false, m, n, m, -1.0f, a.data(), lda, b.data(), ldb, beta,
                             want.data(), ldc, nullptr);
            for (int threads : {0, 1, 2, 3}) {
                std::unique_ptr<ThreadPool> pool(threads > 0 ? new ThreadPool(threads) : nullptr);
                auto got = c0;
                gptq::cpu::sgemm_lower_a(m, n, -1.0f, a.data(), lda, b.data(), ldb, beta,
                                         got.data(), ldc, pool.get());
                assert_memory_equal(got.data(), want.data(), want.size() * sizeof(float));
            }
        }
    }
}

// The diagonal-block steps (vectorised where the CPU allows) against the scalar loops they
// must reproduce bit for bit: every dot product in double, in column order, a separate
// multiply and subtract (this test's build has no FMA to fuse them into). b = 100 leaves
// partial 8-lane groups; lda > b.
void test_diagonal_blocks(void **) {
    const int64_t b = 100, lda = 131;
    const ref::Mat spd = ref::spd_with_condition(b, 1e3, 1.0, 51);
    std::vector<float> a(size_t(b * lda), 7.0f), want;
    for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < b; ++j) a[size_t(i * lda + j)] = float(spd[size_t(i * b + j)]);
    want = a;
    for (int64_t j = 0; j < b; ++j) {
        float *rj = want.data() + j * lda;
        double s = rj[j];
        for (int64_t p = 0; p < j; ++p) s -= double(rj[p]) * double(rj[p]);
        const double ljj = std::sqrt(s);
        rj[j] = float(ljj);
        for (int64_t i = j + 1; i < b; ++i) {
            float *ri = want.data() + i * lda;
            double t = ri[j];
            for (int64_t p = 0; p < j; ++p) t -= double(ri[p]) * double(rj[p]);
            ri[j] = float(t / ljj);
        }
        for (int64_t i = j + 1; i < b; ++i) rj[i] = 0.0f;
    }
    std::vector<double> scratch(size_t(b * b + 8));
    assert_true(gptq::cpu::cholesky_block(a.data(), b, lda, scratch.data()));
    assert_memory_equal(a.data(), want.data(), a.size() * sizeof(float));
    std::vector<double> x(size_t(b * b)), xr(x.size());
    for (int64_t j = 0; j < b; ++j) {
        for (int64_t i = 0; i < j; ++i) xr[size_t(i * b + j)] = 0.0;
        xr[size_t(j * b + j)] = 1.0 / double(want[size_t(j * lda + j)]);
        for (int64_t i = j + 1; i < b; ++i) {
            double s = 0.0;
            for (int64_t p = j; p < i; ++p)
                s += double(want[size_t(i * lda + p)]) * xr[size_t(p * b + j)];
            xr[size_t(i * b + j)] = -s / double(want[size_t(i * lda + i)]);
        }
    }
    for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < b; ++j) want[size_t(i * lda + j)] = float(xr[size_t(i * b + j)]);
    assert_true(gptq::cpu::invert_lower_block(a.data(), b, lda, x.data()));
    assert_memory_equal(a.data(), want.data(), a.size() * sizeof(float));
}

// Work is split by tiles and rows, never inside a sum: the same bits for every thread count
// (no pool, 1, 2, 3 threads) from sgemm, sgemm_lower (the Hessian's SYRK) and the blocked
// inverse factor. Shapes span several row blocks, column chunks and k slices.
std::vector<std::vector<float>> thread_count_results(int threads) {
    std::unique_ptr<ThreadPool> pool(threads > 0 ? new ThreadPool(threads) : nullptr);
    std::vector<std::vector<float>> out;
    const int64_t m = 500, n = 430, k = 600;
    const auto a = random_floats(size_t(m * k), 21), b = random_floats(size_t(k * n), 22);
    std::vector<float> c = random_floats(size_t(m * n), 23);
    gptq::cpu::sgemm(false, false, m, n, k, -1.0f, a.data(), k, b.data(), n, 1.0f, c.data(), n,
                     pool.get());
    out.push_back(c);
    // Few rows: B read in place (whole strips) rather than packed.
    std::vector<float> c2 = random_floats(size_t(70 * n), 25);
    gptq::cpu::sgemm(false, false, 70, n, k, 1.0f, a.data(), k, b.data(), n, 0.5f, c2.data(), n,
                     pool.get());
    out.push_back(c2);
    std::vector<float> h(size_t(n * n), 0.0f);
    gptq::cpu::sgemm_lower(true, false, n, k, 1.0f, b.data(), n, b.data(), n, 1.0f, h.data(), n,
                           pool.get());
    out.push_back(h);
    const ref::Mat spd = ref::spd_with_condition(300, 1e3, 1.0, 24);
    std::vector<float> u(spd.begin(), spd.end());
    if (!gptq::cpu::gptq_inverse_factor(u.data(), 300, 300, pool.get())) u.clear();
    out.push_back(u);
    return out;
}

void test_thread_count_invariance(void **) {
    const auto ref = thread_count_results(0);
    assert_false(ref.back().empty());
    for (int threads : {1, 2, 3}) {
        const auto got = thread_count_results(threads);
        for (size_t i = 0; i < ref.size(); ++i) {
            assert_int_equal(got[i].size(), ref[i].size());
            assert_memory_equal(got[i].data(), ref[i].data(), ref[i].size() * sizeof(float));
        }
    }
}

// subtract_scaled must round as a separate multiply and subtract (the GPTQ column loop's
// bit-exactness with the reference rests on it), for every length and misalignment. The data
// is checked to be discriminating: a fused multiply-add gives different bits somewhere.
void test_subtract_scaled(void **) {
    std::printf("subtract_scaled variant: %s\n", gptq::cpu::subtract_scaled_variant());
    int fused_differs = 0;
    for (int64_t n : {0, 1, 7, 15, 16, 17, 33, 127, 1000})
        for (int64_t off : {0, 1, 3}) {
            const auto u = random_floats(size_t(n + off), 40 + uint64_t(n));
            auto t = random_floats(size_t(n + off), 41 + uint64_t(n));
            const float e = 0.7371f + float(off);
            std::vector<float> want(static_cast<size_t>(n)), fused(static_cast<size_t>(n));
            for (int64_t j = 0; j < n; ++j) {
                const float prod = e * u[size_t(off + j)];
                want[size_t(j)] = t[size_t(off + j)] - prod;
                fused[size_t(j)] = std::fma(-e, u[size_t(off + j)], t[size_t(off + j)]);
                fused_differs += fused[size_t(j)] != want[size_t(j)];
            }
            gptq::cpu::subtract_scaled(t.data() + off, u.data() + off, e, n);
            if (n > 0)
                assert_memory_equal(t.data() + off, want.data(), size_t(n) * sizeof(float));
        }
    assert_true(fused_differs > 0);
}

void test_thread_pool(void **) {
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        assert_int_equal(pool.size(), threads);
        std::vector<std::atomic<int>> hits(1000);
        pool.parallel_for(1000, [&](int64_t t, int th) {
            assert_true(th >= 0 && th < threads);
            hits[size_t(t)]++;
            // Nested calls run inline on the same thread.
            pool.parallel_for(3, [&](int64_t, int inner) { assert_int_equal(inner, th); });
        });
        for (auto &h : hits) assert_int_equal(h.load(), 1);
        bool caught = false;
        try {
            pool.parallel_for(50, [&](int64_t t, int) {
                if (t == 17) throw std::runtime_error("task 17");
            });
        } catch (const std::runtime_error &) {
            caught = true;
        }
        assert_true(caught);
        // The pool still works after an exception.
        std::atomic<int> count{0};
        pool.parallel_for(10, [&](int64_t, int) { count++; });
        assert_int_equal(count.load(), 10);
    }
}

std::vector<float> to_float(const ref::Mat &a) { return std::vector<float>(a.begin(), a.end()); }

double max_abs_diag(const ref::Mat &a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(a[size_t(i * n + i)]));
    return m;
}

// Cholesky: backward error |L L^T - A|_ij <= gamma_{n+1} sqrt(a_ii a_jj) (Higham, Thm 10.3
// with Cauchy-Schwarz), so max |L L^T - A| <= (n+1) u max_i a_ii; the test allows 2x for
// the fp32 storage of L. Forward error against the double factor: |dL| <= kappa (n+1) u |L|
// up to constants, checked with kappa = 1e3.
void test_cholesky(void **) {
    ThreadPool pool(2);
    for (int64_t n : {1, 5, 127, 128, 129, 300}) {
        const double kappa = 1e3;
        const ref::Mat a = ref::spd_with_condition(n, kappa, 4.0, uint64_t(n));
        const ref::Mat af(a.begin(), a.end());
        auto l = to_float(a);
        // Garbage in the strict upper triangle must be ignored.
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i + 1; j < n; ++j) l[size_t(i * n + j)] = 1e30f;
        assert_true(gptq::cpu::cholesky_lower(l.data(), n, n, &pool));
        ref::Mat lref;
        // Reference on the fp32-rounded input, so only the algorithms differ.
        ref::Mat arounded(a.size());
        for (size_t i = 0; i < a.size(); ++i) arounded[i] = double(float(a[i]));
        assert_true(ref::cholesky(arounded, n, lref));
        const double amax = max_abs_diag(arounded, n);
        double recon = 0, fwd = 0, lmax = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                if (j > i) assert_true(l[size_t(i * n + j)] == 0.0f);
                double s = 0;
                for (int64_t p = 0; p <= std::min(i, j); ++p)
                    s += double(l[size_t(i * n + p)]) * double(l[size_t(j * n + p)]);
                recon = std::fmax(recon, std::fabs(s - arounded[size_t(i * n + j)]));
                fwd = std::fmax(fwd, std::fabs(l[size_t(i * n + j)] - lref[size_t(i * n + j)]));
                lmax = std::fmax(lmax, std::fabs(lref[size_t(i * n + j)]));
            }
        assert_true(recon <= 2.0 * double(n + 1) * kU * amax);
        assert_true(fwd <= kappa * double(n + 1) * kU * lmax);
    }
}

// Inverse and U: compare with the double inverse of the same fp32 input. Forward error of an
// SPD inverse is ~ kappa * n * u relative to |A^-1|; U^T U must reproduce it to the same
// order, and U must be upper triangular with a positive diagonal.
void test_inverse_and_factor(void **) {
    ThreadPool pool(2);
    for (int64_t n : {1, 2, 64, 129, 257}) {
        const double kappa = 1e3;
        const ref::Mat a = ref::spd_with_condition(n, kappa, 1.0, 100 + uint64_t(n));
        ref::Mat ar(a.size());
        for (size_t i = 0; i < a.size(); ++i) ar[i] = double(float(a[i]));
        ref::Mat lref;
        assert_true(ref::cholesky(ar, n, lref));
        const ref::Mat inv = ref::spd_inverse(lref, n);
        double invmax = 0;
        for (double v : inv) invmax = std::fmax(invmax, std::fabs(v));
        const double tol = 4.0 * kappa * double(n + 1) * kU * invmax;

        auto h = to_float(ar);
        assert_true(gptq::cpu::cholesky_lower(h.data(), n, n, &pool));
        assert_true(gptq::cpu::cholesky_inverse_lower(h.data(), n, n, &pool));
        double err = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j)
                err = std::fmax(err, std::fabs(h[size_t(i * n + j)] - inv[size_t(i * n + j)]));
        assert_true(err <= tol);

        auto u = to_float(ar);
        assert_true(gptq::cpu::gptq_inverse_factor(u.data(), n, n, &pool));
        err = 0;
        for (int64_t i = 0; i < n; ++i) {
            assert_true(u[size_t(i * n + i)] > 0.0f);
            for (int64_t j = 0; j < n; ++j) {
                double s = 0;  // (U^T U)_ij = sum_{p <= min(i,j)} U[p][i] U[p][j]
                for (int64_t p = 0; p <= std::min(i, j); ++p)
                    s += double(u[size_t(p * n + i)]) * double(u[size_t(p * n + j)]);
                err = std::fmax(err, std::fabs(s - inv[size_t(i * n + j)]));
            }
        }
        assert_true(err <= tol);
        // U is the upper Cholesky factor of the inverse: compare with the double one.
        ref::Mat lu;
        assert_true(ref::cholesky(inv, n, lu));  // inv = lu lu^T, so U = lu^T
        double umax = 0, uerr = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = i; j < n; ++j) {
                umax = std::fmax(umax, std::fabs(lu[size_t(j * n + i)]));
                uerr = std::fmax(uerr, std::fabs(u[size_t(i * n + j)] - lu[size_t(j * n + i)]));
            }
        assert_true(uerr <= 4.0 * kappa * double(n + 1) * kU * umax);
    }
}

// Identity reconstruction on a badly conditioned (kappa 1e5) matrix: the inverse from the
// factor must satisfy |A X - I| <= c * kappa * n * u (residual of a stable inverse).
void test_inverse_identity(void **) {
    ThreadPool pool(2);
    const int64_t n = 200;
    const double kappa = 1e5;
    const ref::Mat a = ref::spd_with_condition(n, kappa, 1.0, 7);
    auto x = to_float(a);
    assert_true(gptq::cpu::cholesky_lower(x.data(), n, n, &pool));
    assert_true(gptq::cpu::cholesky_inverse_lower(x.data(), n, n, &pool));
    gptq::cpu::mirror_lower(x.data(), n, n);
    double res = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < n; ++p) s += double(float(a[size_t(i * n + p)])) * x[size_t(p * n + j)];
            res = std::fmax(res, std::fabs(s - (i == j ? 1.0 : 0.0)));
        }
    assert_true(res <= 4.0 * kappa * double(n) * kU);
}

void test_not_positive_definite(void **) {
    ThreadPool pool(2);
    for (int64_t n : {3, 130}) {
        // Symmetric indefinite: eigenvalues 1 .. 0.1 shifted by -0.5, so some are negative
        // and the failure shows up at a later pivot, past the first diagonal block for n=130.
        ref::Mat a = ref::spd_with_condition(n, 10.0, 1.0, 11);
        for (int64_t i = 0; i < n; ++i) a[size_t(i * n + i)] -= 0.5;
        auto f = to_float(a);
        assert_false(gptq::cpu::cholesky_lower(f.data(), n, n, &pool));
        f = to_float(a);
        assert_false(gptq::cpu::gptq_inverse_factor(f.data(), n, n, &pool));
        // NaN anywhere in the lower triangle is a failure, not garbage.
        ref::Mat b = ref::spd_with_condition(n, 10.0, 1.0, 12);
        auto g = to_float(b);
        g[size_t((n - 1) * n + n / 2)] = std::numeric_limits<float>::quiet_NaN();
        assert_false(gptq::cpu::cholesky_lower(g.data(), n, n, &pool));
        // Zero matrix (all columns dead, no damping).
        std::vector<float> z(size_t(n * n), 0.0f);
        assert_false(gptq::cpu::gptq_inverse_factor(z.data(), n, n, &pool));
        // Infinity overflow on the diagonal.
        auto inf = to_float(b);
        inf[0] = std::numeric_limits<float>::infinity();
        assert_false(gptq::cpu::cholesky_lower(inf.data(), n, n, &pool));
    }
}

} // namespace

int main(void) {
    std::printf("sgemm micro-kernel: %s\n", gptq::cpu::sgemm_kernel_name());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_shapes),
        cmocka_unit_test(test_gemm_lower),
        cmocka_unit_test(test_gemm_lower_a),
        cmocka_unit_test(test_diagonal_blocks),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_subtract_scaled),
        cmocka_unit_test(test_thread_pool),
        cmocka_unit_test(test_cholesky),
        cmocka_unit_test(test_inverse_and_factor),
        cmocka_unit_test(test_inverse_identity),
        cmocka_unit_test(test_not_positive_definite),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
