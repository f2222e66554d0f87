// Hessian accumulation on the device against a double reference.
// Tolerance: H[i][j] is an fp32 sum of n products of fp32 inputs, then one multiply by the
// fp32-rounded 2/n: |H - H_exact| <= gamma_{n+3} * (2/n) * sum_t |x_ti x_tj| (n roundings
// of the sum, one of each product, two for the scale); the bound grows with n.
#include "vk_test_common.h"

using namespace vkt;

namespace {

void check_family(int64_t k, const std::vector<int64_t> &batches, gptq_dtype dtype, int64_t pad,
                  uint64_t seed) {
    Rng r(seed);
    auto hs = backend().create_hessian(k);
    int64_t total = 0;
    for (int64_t b : batches) total += b;
    std::vector<double> exact(size_t(k * k), 0.0), mag(size_t(k * k), 0.0);
    for (int64_t b : batches) {
        const int64_t ld = k + pad;
        std::vector<float> xf(size_t(b * ld), 0.0f);
        std::vector<uint16_t> xh(size_t(b * ld), 0);
        for (int64_t t = 0; t < b; ++t)
            for (int64_t i = 0; i < k; ++i) {
                float v = float(r.normal() * (1.0 + i % 5));
                if (dtype == GPTQ_DTYPE_F16) {
                    xh[size_t(t * ld + i)] = gptq::f32_to_f16(v);
                    v = gptq::f16_to_f32(xh[size_t(t * ld + i)]);
                } else if (dtype == GPTQ_DTYPE_BF16) {
                    xh[size_t(t * ld + i)] = gptq::f32_to_bf16(v);
                    v = gptq::bf16_to_f32(xh[size_t(t * ld + i)]);
                }
                xf[size_t(t * ld + i)] = v;
            }
        for (int64_t t = 0; t < b; ++t)
            for (int64_t i = 0; i < k; ++i)
                for (int64_t j = 0; j < k; ++j) {
                    const double p = double(xf[size_t(t * ld + i)]) * xf[size_t(t * ld + j)];
                    exact[size_t(i * k + j)] += p;
                    mag[size_t(i * k + j)] += std::fabs(p);
                }
        hs->add(dtype == GPTQ_DTYPE_F32 ? static_cast<const void *>(xf.data()) : xh.data(), dtype,
                b, ld);
    }
    assert_int_equal(hs->tokens(), total);
    std::vector<float> h(size_t(k * k));
    hs->read_scaled(h.data());
    const double s = 2.0 / double(total);
    const double gamma = double(total + 3) * kU / (1.0 - double(total + 3) * kU);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const size_t at = size_t(i * k + j);
            assert_true(h[at] == h[size_t(j * k + i)]);  // exactly symmetric
            if (!(std::fabs(h[at] - s * exact[at]) <= gamma * s * mag[at] + 1e-35)) {
                std::fprintf(stderr, "k=%lld H[%lld][%lld] = %.9g, exact %.9g\n", (long long)k,
                             (long long)i, (long long)j, h[at], s * exact[at]);
                fail();
            }
        }
}

// Both kernel families (vk_products.h): the register-blocked hessian_bcast and the tiled
// hessian_accum, each against the same double reference.
void check(int64_t k, const std::vector<int64_t> &batches, gptq_dtype dtype, int64_t pad,
           uint64_t seed) {
    using P = gptq::vk::Context::Products;
    for (P products : {P::Bcast, P::Tiled}) {
        backend().context().products = products;
        check_family(k, batches, dtype, pad, seed);
    }
    backend().context().products = P::Auto;
}

void test_f32_batches(void **) { check(70, {100, 1, 37, 162}, GPTQ_DTYPE_F32, 3, 1); }
void test_f16(void **) { check(33, {50, 50}, GPTQ_DTYPE_F16, 1, 2); }
void test_bf16(void **) { check(48, {17}, GPTQ_DTYPE_BF16, 0, 3); }
void test_small_k(void **) { check(1, {5}, GPTQ_DTYPE_F32, 0, 4); }
void test_low_rank(void **) { check(40, {3}, GPTQ_DTYPE_F32, 0, 5); }  // n < k
// Several row and column tiles of either family, tiles past the diagonal, a ragged edge.
void test_many_tiles(void **) { check(301, {150, 90}, GPTQ_DTYPE_BF16, 2, 7); }
// More tokens than one dispatch may loop over (kLoopBudget / 2): accumulated in pieces.
void test_long_batch(void **) { check(8, {20000}, GPTQ_DTYPE_F32, 0, 6); }

void test_set_then_add(void **) {
    const int64_t k = 5;
    auto hs = backend().create_hessian(k);
    std::vector<float> h0(size_t(k * k));
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) h0[size_t(i * k + j)] = float(1 + i + j) * 0.25f;
    hs->set(h0.data(), 4);
    std::vector<float> got(size_t(k * k));
    hs->read_scaled(got.data());
    assert_memory_equal(got.data(), h0.data(), got.size() * 4);  // given H comes back as is
    // Adding continues the sum: H = (2/(4+2)) * (h0 * 4/2 + x x^T).
    const float x[2 * 5] = {1, 0, 0, 0, 2, 0, 1, 0, 0, 0};
    hs->add(x, GPTQ_DTYPE_F32, 2, k);
    assert_int_equal(hs->tokens(), 6);
    hs->read_scaled(got.data());
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            const double xx = double(x[i]) * x[j] + double(x[5 + i]) * x[5 + j];
            const double want = (2.0 / 6.0) * (double(h0[size_t(i * k + j)]) * 2.0 + xx);
            assert_true(std::fabs(got[size_t(i * k + j)] - want) <= 1e-6 * (1.0 + std::fabs(want)));
        }
}

void test_empty_read_fails(void **) {
    auto hs = backend().create_hessian(4);
    std::vector<float> h(16);
    try {
        hs->read_scaled(h.data());
        fail_msg("read of an empty Hessian succeeded");
    } catch (const gptq::Error &e) {
        assert_int_equal(e.status(), GPTQ_ERR_INVALID_ARGUMENT);
    }
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_batches), cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),        cmocka_unit_test(test_small_k),
        cmocka_unit_test(test_low_rank),    cmocka_unit_test(test_long_batch),
        cmocka_unit_test(test_many_tiles),
        cmocka_unit_test(test_set_then_add), cmocka_unit_test(test_empty_read_fails),
    };
    return run("test_vk_hessian", tests, sizeof tests / sizeof tests[0]);
}
