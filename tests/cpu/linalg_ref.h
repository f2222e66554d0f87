// Textbook double-precision references for the white-box tests of the CPU kernels:
// unblocked, one element at a time, no shared code with src/.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace ref {

using Mat = std::vector<double>;  // row-major n x n

// Cholesky-Banachiewicz, lower. Returns false on a non-positive pivot.
inline bool cholesky(const Mat &a, int64_t n, Mat &l) {
    l.assign(size_t(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) {
            double s = a[size_t(i * n + j)];
            for (int64_t p = 0; p < j; ++p) s -= l[size_t(i * n + p)] * l[size_t(j * n + p)];
            if (i == j) {
                if (!(s > 0)) return false;
                l[size_t(i * n + i)] = std::sqrt(s);
            } else {
                l[size_t(i * n + j)] = s / l[size_t(j * n + j)];
            }
        }
    return true;
}

// Inverse of an SPD matrix from its Cholesky factor: solve L L^T x = e_j column by column.
inline Mat spd_inverse(const Mat &l, int64_t n) {
    Mat inv(size_t(n * n));
    std::vector<double> y(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) {
        for (int64_t i = 0; i < n; ++i) {  // L y = e_c
            double s = i == c ? 1.0 : 0.0;
            for (int64_t p = 0; p < i; ++p) s -= l[size_t(i * n + p)] * y[size_t(p)];
            y[size_t(i)] = s / l[size_t(i * n + i)];
        }
        for (int64_t i = n - 1; i >= 0; --i) {  // L^T x = y
            double s = y[size_t(i)];
            for (int64_t p = i + 1; p < n; ++p) s -= l[size_t(p * n + i)] * inv[size_t(p * n + c)];
            inv[size_t(i * n + c)] = s / l[size_t(i * n + i)];
        }
    }
    return inv;
}

// SPD matrix with condition number exactly kappa: Q diag(lambda) Q^T with a Householder Q
// and eigenvalues geometric from 1 down to 1/kappa, scaled by `scale`.
inline Mat spd_with_condition(int64_t n, double kappa, double scale, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd;
    std::vector<double> v(static_cast<size_t>(n));
    double vv = 0;
    for (auto &x : v) {
        x = nd(rng);
        vv += x * x;
    }
    Mat q(size_t(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            q[size_t(i * n + j)] = (i == j ? 1.0 : 0.0) - 2.0 * v[size_t(i)] * v[size_t(j)] / vv;
    Mat a(size_t(n * n), 0.0);
    for (int64_t p = 0; p < n; ++p) {
        const double lam = scale * (n == 1 ? 1.0 : std::pow(kappa, -double(p) / double(n - 1)));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
                a[size_t(i * n + j)] += q[size_t(i * n + p)] * lam * q[size_t(j * n + p)];
    }
    return a;
}

} // namespace ref
