// Quantized matmul on the device (GEMV kernels for m <= 8, tiled GEMM above) against a double
// reference on the same dequantized weights.
// Tolerance: each output is an fp32 sum of k products, so |y - y_exact| <= gamma_{k+2} *
// sum_k |x w| with gamma_j = j u / (1 - j u): one rounding for the product, k for the sum
// (an FMA only removes roundings), and one more because the run kernels apply the scale
// after summing x (q - z) over a run, where the reference multiplies by the fp32 weight
// s (q - z) (itself rounded once). The bound grows with k.
#include "vk_test_common.h"

#include "backends/vulkan/vk_matmul.h"

using namespace vkt;

namespace {

// One product y = x q^T with a random x of m rows, checked against the double reference on
// w = dequant(q).
void check_product(const gptq::QLayer &q, const std::vector<float> &w, int64_t m,
                   gptq_dtype dtype, int64_t ldx_pad, Rng &r) {
    const int64_t n = q.n, k = q.k;
    const int bits = q.bits, group = int(q.group_size);
    const bool act = q.desc_act;
    const int64_t ldx = k + ldx_pad;
    std::vector<float> xf(size_t(m * ldx), 0.0f);
    std::vector<uint16_t> xh(size_t(m * ldx), 0);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < k; ++j) {
            float v = float(r.normal());
            if (dtype == GPTQ_DTYPE_F16) {
                xh[size_t(i * ldx + j)] = gptq::f32_to_f16(v);
                v = gptq::f16_to_f32(xh[size_t(i * ldx + j)]);
            } else if (dtype == GPTQ_DTYPE_BF16) {
                xh[size_t(i * ldx + j)] = gptq::f32_to_bf16(v);
                v = gptq::bf16_to_f32(xh[size_t(i * ldx + j)]);
            }
            xf[size_t(i * ldx + j)] = v;
        }
    const int64_t ldy = n + 3;
    std::vector<float> y(size_t(m * ldy), -7.0f);
    const void *x = dtype == GPTQ_DTYPE_F32 ? static_cast<const void *>(xf.data()) : xh.data();
    backend().matmul(q, x, dtype, m, ldx, y.data(), ldy);
    const double gamma = double(k + 2) * kU / (1.0 - double(k + 2) * kU);
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            double exact = 0.0, mag = 0.0;
            for (int64_t c = 0; c < k; ++c) {
                const double p = double(xf[size_t(i * ldx + c)]) * double(w[size_t(j * k + c)]);
                exact += p;
                mag += std::fabs(p);
            }
            const double got = y[size_t(i * ldy + j)];
            if (!(std::fabs(got - exact) <= gamma * mag + 1e-30)) {
                std::fprintf(stderr,
                             "m=%lld n=%lld k=%lld bits=%d g=%d act=%d dtype=%d: y[%lld][%lld] = "
                             "%.9g, exact %.9g, bound %.3g\n",
                             (long long)m, (long long)n, (long long)k, bits, group, int(act),
                             int(dtype), (long long)i, (long long)j, got, exact, gamma * mag);
                fail();
            }
        }
        for (int64_t j = n; j < ldy; ++j) assert_true(y[size_t(i * ldy + j)] == -7.0f);  // padding untouched
    }
}

void check_case(int64_t m, int64_t n, int64_t k, int bits, int group, bool act,
                gptq_dtype dtype, int64_t ldx_pad, uint64_t seed) {
    Rng r(seed);
    const gptq::QLayer q = random_layer(r, n, k, bits, group, act);
    check_product(q, dequant(q), m, dtype, ldx_pad, r);
}

// Every small-m kernel: one invocation per feature, or several (Wide), with X from shared
// memory or by subgroup shuffles (when the device has them), the direct kernels (X loaded
// by the subgroup and shuffled, no shared memory; they also serve m > 8, as does the tiled
// GEMM that PerFeature stands for there), and the k-split subgroup kernel (when the device
// has subgroup arithmetic; lavapipe has both). Auto, which measures them, in
// test_gemv_auto.
std::vector<gptq::vk::GemvKernel> gemv_kernels() {
    using gptq::vk::GemvKernel;
    std::vector<GemvKernel> v{GemvKernel::PerFeature, GemvKernel::PerFeatureWide};
    const auto &p = backend().context().pipelines;
    if (p.has(gptq::vk::Kernel::MatmulGemvRunsShuffle)) {
        v.push_back(GemvKernel::Shuffle);
        v.push_back(GemvKernel::ShuffleWide);
    } else {
        std::fprintf(stderr, "no subgroup shuffles: the shuffle GEMV is not tested\n");
    }
    if (p.has(gptq::vk::Kernel::MatmulDirect)) {
        v.push_back(GemvKernel::Direct);
        v.push_back(GemvKernel::DirectWide);
    } else {
        std::fprintf(stderr, "no subgroup shuffles: the direct kernels are not tested\n");
    }
    if (p.has(gptq::vk::Kernel::MatmulGemvSubgroup))
        v.push_back(GemvKernel::Subgroup);
    else
        std::fprintf(stderr, "no subgroup arithmetic: the subgroup GEMV is not tested\n");
    return v;
}

void test_gemv_bits(void **) {
    uint64_t seed = 1;
    for (auto kernel : gemv_kernels()) {
        backend().context().gemv = kernel;
        // Each (kernel, bits, row variant) is its own pipeline, and compiling them is most
        // of this test's time: every code width at one row, the row variants (3 rows: the
        // 4-row variant with a row masked off) at 4 bits and, with its codes straddling
        // words, 3 bits. The decode depends on the width only, the X loop on the rows only.
        for (int bits : {2, 3, 4, 8})
            for (int group : {-1, 32, 128})
                for (bool act : {false, true})
                    for (int64_t m : {1, 3, 8})
                        if (m == 1 || bits == 4 || (bits == 3 && m == 8))
                            check_case(m, 72, 300, bits, group, act, GPTQ_DTYPE_F32, 0, seed++);
        check_case(2, 5, 1100, 3, 64, true, GPTQ_DTYPE_F16, 2, seed++);  // few features, long k
    }
    backend().context().gemv = gptq::vk::GemvKernel::Auto;
}

// Auto measures the candidates on a shape's first call and keeps one: right answers on the
// measuring call and after it.
void test_gemv_auto(void **) {
    backend().context().gemv = gptq::vk::GemvKernel::Auto;
    check_case(1, 72, 300, 4, 128, true, GPTQ_DTYPE_F32, 0, 50);
    check_case(1, 72, 300, 4, 128, true, GPTQ_DTYPE_F32, 0, 51);
    check_case(8, 40, 96, 4, 32, false, GPTQ_DTYPE_F32, 0, 52);
}

// m > 8: the tiled GEMM (PerFeature), the direct kernels (8 rows per workgroup row, 70 rows
// leave a partial one) and Auto's choice among them.
void test_gemm_bits(void **) {
    using gptq::vk::GemvKernel;
    uint64_t seed = 100;
    std::vector<GemvKernel> kernels{GemvKernel::Auto, GemvKernel::PerFeature};
    if (backend().context().pipelines.has(gptq::vk::Kernel::MatmulDirect)) {
        kernels.push_back(GemvKernel::Direct);
        kernels.push_back(GemvKernel::DirectWide);
    }
    for (auto kernel : kernels) {
        backend().context().gemv = kernel;
        for (int bits : {2, 3, 4, 8})
            for (int group : {-1, 32})
                for (bool act : {false, true})
                    check_case(70, 100, 172, bits, group, act, GPTQ_DTYPE_F32, 0, seed++);
    }
    backend().context().gemv = GemvKernel::Auto;
}

void test_dtypes_and_strides(void **) {
    uint64_t seed = 200;
    for (auto kernel : gemv_kernels()) {
        backend().context().gemv = kernel;
        for (gptq_dtype dt : {GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16, GPTQ_DTYPE_F32})
            for (int64_t m : {1, 5, 9, 65}) check_case(m, 33, 131, 4, 32, true, dt, 5, seed++);
    }
    backend().context().gemv = gptq::vk::GemvKernel::Auto;
}

void test_odd_shapes(void **) {
    check_case(1, 1, 1, 4, -1, false, GPTQ_DTYPE_F32, 0, 300);
    check_case(2, 3, 33, 3, 7, true, GPTQ_DTYPE_F32, 1, 301);
    check_case(130, 65, 64, 2, 16, false, GPTQ_DTYPE_F16, 0, 302);
    check_case(8, 257, 1030, 4, 128, true, GPTQ_DTYPE_F32, 0, 303);
}

// The layer is uploaded once and reused: the device copy survives across calls, and a
// second call gives bit-identical results.
void test_resident_layer(void **) {
    Rng r(400);
    gptq::QLayer q = random_layer(r, 48, 96, 4, 32, false);
    std::vector<float> x(96);
    for (auto &v : x) v = float(r.normal());
    std::vector<float> y1(48), y2(48);
    backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 1, 96, y1.data(), 48);
    assert_non_null(q.device.get());
    const gptq::DeviceLayer *first = q.device.get();
    assert_ptr_equal(q.device_owner, &backend());
    backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 1, 96, y2.data(), 48);
    assert_ptr_equal(q.device.get(), first);
    assert_memory_equal(y1.data(), y2.data(), y1.size() * 4);
}

// With a storage-buffer range lowered below the layer's size (the _small_range CTest
// variant sets GPTQ_VULKAN_MAX_BUFFER_RANGE), the layer is held in several slices and X/Y
// in several chunks, and the product is still right (every other test of the program
// checks the values in that configuration too).
void test_sliced_layer(void **) {
    const uint64_t range = backend().context().device.max_storage_range();
    if (range >= (uint64_t(1) << 16)) skip();
    Rng r(500);
    gptq::QLayer q = random_layer(r, 96, 1000, 8, 64, true);
    std::vector<float> x(size_t(3 * 1000)), y(size_t(3 * 96));
    for (auto &v : x) v = float(r.normal());
    backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 3, 1000, y.data(), 96);
    const auto *L = dynamic_cast<const gptq::vk::ResidentLayer *>(q.device.get());
    assert_non_null(L);
    assert_true(L->slices.size() > 1);
    for (const auto &sl : L->slices) assert_true(uint64_t(sl.qrows) * 96 * 4 <= range);
    check_case(3, 96, 1000, 8, 64, true, GPTQ_DTYPE_F32, 0, 501);
    check_case(20, 96, 1000, 4, 128, false, GPTQ_DTYPE_BF16, 0, 502);  // GEMM, X in chunks
}

// Calls of up to 8 rows replay the layer's recorded command buffer of their shape: new X
// every call, right answers every call; more shapes than a layer keeps replays of (the least
// recently used is dropped and recorded again later); the same bits as a call recorded anew.
void test_replayed_calls(void **) {
    auto &ctx = backend().context();
    ctx.gemv = gptq::vk::GemvKernel::Auto;
    Rng r(600);
    const gptq::QLayer q = random_layer(r, 70, 200, 4, 32, true);
    const std::vector<float> w = dequant(q);
    for (int call = 0; call < 4; ++call) check_product(q, w, 1, GPTQ_DTYPE_F32, 0, r);
    const auto *L = dynamic_cast<const gptq::vk::ResidentLayer *>(q.device.get());
    assert_non_null(L);
    assert_int_equal(L->replays.size(), 1);
    for (int64_t m : {2, 3, 5, 8, 1, 3, 7})
        check_product(q, w, m, m % 2 ? GPTQ_DTYPE_BF16 : GPTQ_DTYPE_F32, m, r);
    assert_int_equal(L->replays.size(), gptq::vk::MatmulReplays::kMax);
    std::vector<float> x(size_t(3 * 200)), y1(size_t(3 * 70)), y2(y1.size());
    for (auto &v : x) v = float(r.normal());
    backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 3, 200, y1.data(), 70);
    ctx.replay_matmul = false;
    backend().matmul(q, x.data(), GPTQ_DTYPE_F32, 3, 200, y2.data(), 70);
    ctx.replay_matmul = true;
    assert_memory_equal(y1.data(), y2.data(), y1.size() * 4);
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_gemv_bits),
        cmocka_unit_test(test_gemv_auto),
        cmocka_unit_test(test_gemm_bits),
        cmocka_unit_test(test_dtypes_and_strides),
        cmocka_unit_test(test_odd_shapes),
        cmocka_unit_test(test_resident_layer),
        cmocka_unit_test(test_sliced_layer),
        cmocka_unit_test(test_replayed_calls),
    };
    return run("test_vk_matmul", tests, sizeof tests / sizeof tests[0]);
}
