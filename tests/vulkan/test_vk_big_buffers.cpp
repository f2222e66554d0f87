// The quantizer with buffers larger than the device's storage-buffer range
// (maxStorageBufferRange: 128 MiB on lavapipe and many mobile GPUs, less than a K = 14336
// Hessian). Such buffers are read through their device addresses (shaders/addressed.glsl).
//
// Default run: a second backend whose planned range is lowered to 16 KiB
// (GPTQ_VULKAN_MAX_BUFFER_RANGE) quantizes small layers whose H, W and X all exceed it. The
// addressed builds run the same fp32 operations in the same order as the plain ones, so
// the Hessian, codes, scales, zeros and loss must equal the unsplit backend's bit for bit;
// both must agree with the CPU backend within the cross-backend tolerance
// (vk_quantize_common.h). Without device addresses the same layer is a clear error.
//
// `test_vk_big_buffers long` (CTest label long): Llama-3-8B's down_proj shape, 4096 x 14336
// 4-bit g128, at the device's real range, against the CPU backend.
#include "vk_quantize_common.h"

#include "backends/vulkan/vk_commands.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace vkt;

namespace {

constexpr uint64_t kLoweredRange = 16384;

// A Vulkan backend created with the given environment knobs set (the device reads them
// when it is created).
std::unique_ptr<gptq::vk::VulkanBackend> backend_with(const char *range, const char *no_address) {
    setenv("GPTQ_VULKAN_MAX_BUFFER_RANGE", range, 1);
    if (no_address) setenv("GPTQ_VULKAN_NO_BUFFER_ADDRESS", no_address, 1);
    gptq_ctx_params p{};
    p.struct_size = sizeof p;
    p.backend = GPTQ_BACKEND_VULKAN;
    std::unique_ptr<gptq::vk::VulkanBackend> b;
    try {
        b = std::make_unique<gptq::vk::VulkanBackend>(p);
    } catch (...) {
        unsetenv("GPTQ_VULKAN_MAX_BUFFER_RANGE");
        unsetenv("GPTQ_VULKAN_NO_BUFFER_ADDRESS");
        throw;
    }
    unsetenv("GPTQ_VULKAN_MAX_BUFFER_RANGE");
    unsetenv("GPTQ_VULKAN_NO_BUFFER_ADDRESS");
    return b;
}

std::unique_ptr<gptq::vk::VulkanBackend> &small_range() {
    static std::unique_ptr<gptq::vk::VulkanBackend> b;
    if (!b) b = backend_with(std::to_string(kLoweredRange).c_str(), nullptr);
    return b;
}

void assert_identical(const gptq::QuantResult &a, const gptq::QuantResult &b) {
    assert_int_equal(a.qweight.size(), b.qweight.size());
    assert_memory_equal(a.qweight.data(), b.qweight.data(), a.qweight.size() * 4);
    assert_int_equal(a.scales.size(), b.scales.size());
    assert_memory_equal(a.scales.data(), b.scales.data(), a.scales.size() * 4);
    assert_memory_equal(a.zeros.data(), b.zeros.data(), a.zeros.size() * 4);
    assert_memory_equal(a.perm.data(), b.perm.data(), a.perm.size() * 4);
    assert_memory_equal(a.g_idx.data(), b.g_idx.data(), a.g_idx.size() * 4);
    assert_true(a.loss == b.loss);
    assert_int_equal(a.damp_retries, b.damp_retries);
}

// Hessians accumulated on each device from the same activations, scaled read-backs
// compared, then layers quantized from them, across the option space's kernels; the CPU
// backend quantizes from the same H.
void test_split_matches_unsplit(void **) {
    if (!small_range()->context().device.has_buffer_address()) skip();
    auto &whole = backend();
    auto &split = *small_range();
    assert_int_equal(split.context().device.max_storage_range(), kLoweredRange);
    Rng r(11);
    const int64_t n = 24, k = 200, t = 400;  // H 160 KB, W 19 KB, X 320 KB: all beyond 16 KiB
    assert_true(uint64_t(n * k * 4) > kLoweredRange);
    const std::vector<float> x = activations(r, t, k, {7});
    const std::vector<float> w = weights(r, n, k);
    struct Case {
        OptionRow o;
        gptq_dtype dtype;
    };
    const Case cases[] = {{{4, 128, false, false, false, false, 128}, GPTQ_DTYPE_F32},
                          {{3, 32, false, true, false, false, 64}, GPTQ_DTYPE_F32},
                          {{2, 48, true, true, true, false, 50}, GPTQ_DTYPE_F32},
                          {{4, 64, false, true, false, true, 128}, GPTQ_DTYPE_F32},
                          {{8, -1, false, false, false, false, 128}, GPTQ_DTYPE_BF16}};
    std::vector<uint16_t> x16(x.size());
    for (size_t i = 0; i < x.size(); ++i) x16[i] = gptq::f32_to_bf16(x[i]);
    // Each family of product kernels (vk_products.h), the same in both contexts.
    using P = gptq::vk::Context::Products;
    for (P products : {P::Bcast, P::Tiled})
    for (const Case &cs : cases) {
        whole.context().products = split.context().products = products;
        const OptionRow &o = cs.o;
        const gptq::QuantOptions opt = options_of(o);
        const void *xp = cs.dtype == GPTQ_DTYPE_F32 ? static_cast<const void *>(x.data())
                                                   : static_cast<const void *>(x16.data());
        auto hw = whole.create_hessian(k);
        auto hs = split.create_hessian(k);
        auto hc = cpu()->create_hessian(k);
        const uint64_t addressed_before = gptq::vk::addressed_dispatches();
        hw->add(xp, cs.dtype, t, k);
        assert_int_equal(gptq::vk::addressed_dispatches(), addressed_before);  // plain builds
        hs->add(xp, cs.dtype, t, k);
        assert_true(gptq::vk::addressed_dispatches() > addressed_before);
        std::vector<float> h1(size_t(k * k)), h2(size_t(k * k));
        hw->read_scaled(h1.data());
        hs->read_scaled(h2.data());
        assert_memory_equal(h1.data(), h2.data(), h1.size() * 4);
        // The CPU quantizes from the device's H (its own sum would differ in summation order,
        // which the cross-backend tolerance does not cover).
        hc->set(h2.data(), t);

        gptq::QuantResult vw, vs, c;
        std::vector<float> w1 = w, w2 = w, w3 = w;
        whole.quantize(opt, w1.data(), n, k, *hw, &vw);
        const uint64_t before_split = gptq::vk::addressed_dispatches();
        split.quantize(opt, w2.data(), n, k, *hs, &vs);
        assert_true(gptq::vk::addressed_dispatches() > before_split);
        cpu()->quantize(opt, w3.data(), n, k, *hc, &c);
        assert_identical(vs, vw);
        char what[96];
        std::snprintf(what, sizeof what, "split b%d g%d act%d static%d mse%d dtype%d %s", o.bits,
                      o.group, o.act, o.stat, o.mse, int(cs.dtype),
                      products == P::Bcast ? "bcast" : "tiled");
        compare(vs, c, opt.bits, what);
    }
    whole.context().products = split.context().products = P::Auto;
}

// The addressed hessian_bcast with its activations still within the range (read through
// the descriptor, as at K = 14336 on a real range): batches of 16 tokens x 200 (12.8 KB) into
// a 160 KB sum, F16 and F32, bit for bit the unsplit backend's.
void test_hessian_small_batches(void **) {
    if (!small_range()->context().device.has_buffer_address()) skip();
    using P = gptq::vk::Context::Products;
    auto &whole = backend();
    auto &split = *small_range();
    whole.context().products = split.context().products = P::Bcast;
    Rng r(12);
    const int64_t k = 200, t = 16;
    for (gptq_dtype dtype : {GPTQ_DTYPE_F32, GPTQ_DTYPE_F16}) {
        auto hw = whole.create_hessian(k);
        auto hs = split.create_hessian(k);
        for (int batch = 0; batch < 3; ++batch) {
            const std::vector<float> x = activations(r, t, k, {});
            std::vector<uint16_t> x16(x.size());
            for (size_t i = 0; i < x.size(); ++i) x16[i] = gptq::f32_to_f16(x[i]);
            const void *xp = dtype == GPTQ_DTYPE_F32 ? static_cast<const void *>(x.data())
                                                    : static_cast<const void *>(x16.data());
            hw->add(xp, dtype, t, k);
            const uint64_t before = gptq::vk::addressed_dispatches();
            hs->add(xp, dtype, t, k);
            assert_true(gptq::vk::addressed_dispatches() > before);
        }
        std::vector<float> h1(size_t(k * k)), h2(size_t(k * k));
        hw->read_scaled(h1.data());
        hs->read_scaled(h2.data());
        assert_memory_equal(h1.data(), h2.data(), h1.size() * 4);
    }
    whole.context().products = split.context().products = P::Auto;
}

// A Hessian given by the host (set()) goes through the same addressed kernels.
void test_given_hessian(void **) {
    if (!small_range()->context().device.has_buffer_address()) skip();
    Rng r(12);
    const int64_t n = 40, k = 150, t = 300;
    const std::vector<float> h = hessian_of(activations(r, t, k, {}), t, k);
    const std::vector<float> w = weights(r, n, k);
    gptq::QuantOptions opt;
    opt.group_size = 32;
    opt.desc_act = true;
    gptq::QuantResult vw, vs, c;
    both(opt, w, h, n, k, &vs, &c, small_range().get());
    compare(vs, c, opt.bits, "split, given H");
    both(opt, w, h, n, k, &vw, &c);
    assert_identical(vs, vw);
}

// Without device addresses a buffer beyond the range cannot be read: a status and a message
// that says why, never a crash or a wrong result.
void test_without_addresses(void **) {
    auto b = backend_with(std::to_string(kLoweredRange).c_str(), "1");
    assert_false(b->context().device.has_buffer_address());
    try {
        auto h = b->create_hessian(200);
        fail_msg("a Hessian beyond the storage range was created without device addresses");
    } catch (const gptq::Error &e) {
        assert_int_equal(e.status(), GPTQ_ERR_DEVICE_OUT_OF_MEMORY);
        assert_non_null(std::strstr(e.what(), "storage-buffer limit"));
        assert_non_null(std::strstr(e.what(), "device addresses"));
    }
    // Within the range the plain kernels still quantize.
    Rng r(13);
    const int64_t n = 8, k = 40, t = 100;
    const std::vector<float> h = hessian_of(activations(r, t, k, {}), t, k);
    gptq::QuantResult v, c;
    gptq::QuantOptions opt;
    opt.group_size = -1;
    both(opt, weights(r, n, k), h, n, k, &v, &c, b.get());
    compare(v, c, opt.bits, "no addresses, small layer");
}

// The limits the backend plans with are reported.
void test_limits_reported(void **) {
    const std::string s = small_range()->context().device.limits_summary();
    std::fprintf(stderr, "limits: %s\n", s.c_str());
    assert_non_null(std::strstr(s.c_str(), "storage range 16384 B (lowered)"));
    assert_non_null(std::strstr(s.c_str(), "allocations"));
    assert_non_null(std::strstr(s.c_str(), "shared memory"));
}

// The long run's shape: Llama-3-8B's down_proj unless the command line names another
// (`long N K [T]`, e.g. a smaller K whose Hessian still exceeds the range; T tokens).
int64_t g_long_n = 4096, g_long_k = 14336, g_long_t = 0;

// Progress of the long run's column loops (the factorisation comes before the first call).
int print_progress(void *start, int64_t done, int64_t total) {
    const auto t0 = *static_cast<const std::chrono::steady_clock::time_point *>(start);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "  %lld / %lld columns after %.0f s\n", (long long)done,
                 (long long)total, s);
    return 0;
}

// Llama-3-8B's down_proj at the device's real range (a 822 MB Hessian on a 128 MiB device).
void test_down_proj(void **) {
    // More tokens than columns: a full-rank H, as calibration gives (a rank-deficient one
    // held up by 1 % damping alone is so ill-conditioned that fp32 summation order moves
    // codes by more than one step between backends).
    const int64_t n = g_long_n, k = g_long_k, t = g_long_t ? g_long_t : k + k / 4;
    const auto &dev = backend().context().device;
    std::fprintf(stderr, "device limits: %s\n", dev.limits_summary().c_str());
    if (uint64_t(k * k) * 4 <= dev.max_storage_range())
        std::fprintf(stderr, "note: this device binds the whole Hessian; no split needed\n");
    Rng r(14);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> h = hessian_of(activations(r, t, k, {5, k - 7}), t, k);
    const std::vector<float> w = weights(r, n, k);
    const auto t1 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "inputs ready after %.1f s\n", std::chrono::duration<double>(t1 - t0).count());
    gptq::QuantOptions opt;
    opt.bits = 4;
    opt.group_size = 128;
    opt.progress = print_progress;
    opt.progress_user = const_cast<std::chrono::steady_clock::time_point *>(&t1);
    gptq::QuantResult v, c;
    std::vector<float> w1 = w;
    {
        auto hv = backend().create_hessian(k);
        hv->set(h.data(), 100);
        const uint64_t before = gptq::vk::addressed_dispatches();
        backend().quantize(opt, w1.data(), n, k, *hv, &v);
        if (uint64_t(k * k) * 4 > dev.max_storage_range())
            assert_true(gptq::vk::addressed_dispatches() > before);
    }
    const auto t2 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "Vulkan done after %.1f s\n", std::chrono::duration<double>(t2 - t1).count());
    opt.progress_user = const_cast<std::chrono::steady_clock::time_point *>(&t2);
    {
        auto hc = cpu()->create_hessian(k);
        hc->set(h.data(), 100);
        std::vector<float> w2 = w;
        cpu()->quantize(opt, w2.data(), n, k, *hc, &c);
    }
    const auto t3 = std::chrono::steady_clock::now();
    const auto sec = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    std::fprintf(stderr, "%lld x %lld: inputs %.1f s, Vulkan quantize %.1f s, CPU %.1f s\n",
                 (long long)n, (long long)k, sec(t0, t1), sec(t1, t2), sec(t2, t3));
    // The tolerance is derived in the same run rather than guessed: GPTQ's error feedback
    // turns a rounding that flips one code into differences along the rest of its row, so
    // how many codes two correct fp32 implementations disagree on grows with K and with H's
    // condition. Both backends factor H with backward-stable fp32 Cholesky and triangular
    // solves, i.e. exactly for some H + dH with |dH_ij| of order sqrt(K) eps sqrt(H_ii H_jj)
    // (random-walk rounding; the worst case is K eps). The CPU backend run again on H with
    // such a symmetric random perturbation measures how far a legitimate fp32 difference
    // moves the codes; Vulkan must not disagree with the CPU backend more than that (or than
    // the 0.5 % of docs/reference-vectors.md §6 when the perturbation moves fewer codes).
    // At 256 x 2048 the perturbation moves 1.8 % of the codes and Vulkan none.
    std::vector<float> hp = h;
    {
        Rng rp(15);
        const double rel = std::sqrt(double(k)) * std::ldexp(1.0, -24);
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                const double scale = std::sqrt(double(h[i * k + i]) * double(h[j * k + j]));
                const float p = float(double(h[i * k + j]) + rp.uniform(-rel, rel) * scale);
                hp[i * k + j] = hp[j * k + i] = p;
            }
    }
    gptq::QuantResult cp;
    {
        auto hc = cpu()->create_hessian(k);
        hc->set(hp.data(), 100);
        std::vector<float> w3 = w;
        cpu()->quantize(opt, w3.data(), n, k, *hc, &cp);
    }
    std::vector<float>().swap(hp);
    struct Diff {
        int64_t differ = 0, by_two = 0, largest = 0;
    };
    const auto diff = [](const std::vector<uint8_t> &a, const std::vector<uint8_t> &b) {
        Diff d;
        for (size_t i = 0; i < a.size(); ++i) {
            const int64_t e = std::abs(int64_t(a[i]) - int64_t(b[i]));
            d.differ += e != 0;
            d.by_two += e == 2;
            d.largest = std::max(d.largest, e);
        }
        return d;
    };
    const std::vector<uint8_t> vc = unpacked_codes(v, opt.bits);
    const Diff dv = diff(vc, c.codes), dp = diff(cp.codes, c.codes);
    std::fprintf(stderr,
                 "codes differing from the CPU backend: Vulkan %lld of %zu (%lld by two, largest "
                 "%lld); CPU on a perturbed H %lld (%lld by two, largest %lld), losses %.6g / "
                 "%.6g / %.6g\n",
                 (long long)dv.differ, vc.size(), (long long)dv.by_two, (long long)dv.largest,
                 (long long)dp.differ, (long long)dp.by_two, (long long)dp.largest, v.loss,
                 c.loss, cp.loss);
    const double allowed = std::max(0.005 * double(vc.size()), double(dp.differ));
    assert_true(double(dv.differ) <= allowed);
    assert_memory_equal(v.perm.data(), c.perm.data(), v.perm.size() * 4);
    assert_memory_equal(v.g_idx.data(), c.g_idx.data(), v.g_idx.size() * 4);
    assert_int_equal(v.damp_retries, c.damp_retries);
    assert_true(std::fabs(v.loss - c.loss) <= 1e-3 * c.loss);
    assert_int_equal(v.dead_columns, 2);
}

// The second device goes before the program's validation count is taken.
void test_release_small_range(void **) { small_range().reset(); }

} // namespace

int main(int argc, char **argv) {
    const bool long_run = argc > 1 && std::strcmp(argv[1], "long") == 0;
    if (long_run && argc >= 4) {
        g_long_n = std::atoll(argv[2]);
        g_long_k = std::atoll(argv[3]);
        if (argc >= 5) g_long_t = std::atoll(argv[4]);
        if (g_long_n <= 0 || g_long_k <= 1 || g_long_t < 0) return 2;
    }
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_split_matches_unsplit),
        cmocka_unit_test(test_given_hessian),
        cmocka_unit_test(test_hessian_small_batches),
        cmocka_unit_test(test_without_addresses),
        cmocka_unit_test(test_limits_reported),
        cmocka_unit_test(test_release_small_range),
    };
    const CMUnitTest long_tests[] = {cmocka_unit_test(test_down_proj)};
    const int rc = long_run ? run("test_vk_big_buffers_long", long_tests, 1)
                            : run("test_vk_big_buffers", tests, sizeof tests / sizeof tests[0]);
    small_range().reset();
    cpu().reset();
    return rc;
}
