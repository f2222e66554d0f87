// What the Vulkan quantizer tests share: synthetic activations and weights, the CPU
// backend as reference, and the cross-backend comparison (docs/reference-vectors.md §6:
// >= 99.5 % identical codes, |dcode| <= 1; identical codes must pack bit for bit).
#pragma once

#include "vk_test_common.h"

#include "core/backend.h"
#include "core/options.h"

namespace vkt {

inline std::unique_ptr<gptq::Backend> &cpu() {
    static std::unique_ptr<gptq::Backend> b = gptq::make_cpu_backend(1);
    return b;
}

// x [t x k]: correlated activations with per-channel scales; channels in `dead` are zero.
inline std::vector<float> activations(Rng &r, int64_t t, int64_t k, const std::vector<int64_t> &dead) {
    std::vector<float> x(size_t(t * k));
    std::vector<double> s(static_cast<size_t>(k));
    for (auto &v : s) v = std::exp(0.75 * r.normal());
    for (int64_t i = 0; i < t; ++i) {
        const double common = r.normal();
        for (int64_t j = 0; j < k; ++j)
            x[size_t(i * k + j)] = float((r.normal() + 0.5 * common) * s[size_t(j)]);
    }
    for (int64_t j : dead)
        for (int64_t i = 0; i < t; ++i) x[size_t(i * k + j)] = 0.0f;
    return x;
}

inline std::vector<float> weights(Rng &r, int64_t n, int64_t k) {
    std::vector<float> w(size_t(n * k));
    for (auto &v : w) v = float(0.02 * r.normal());
    for (int64_t i = 0; i < n; ++i) w[size_t(i * k + 1)] *= 8.0f;
    return w;
}

// v: Vulkan (codes packed on the device), c: CPU (codes unpacked).
inline void compare(const gptq::QuantResult &v, const gptq::QuantResult &c, int bits, const char *what) {
    assert_int_equal(v.n_groups, c.n_groups);
    const std::vector<uint8_t> vc = unpacked_codes(v, bits);
    int64_t diff = 0;
    for (size_t i = 0; i < vc.size(); ++i) {
        const int d = int(vc[i]) - int(c.codes[i]);
        assert_true(d >= -1 && d <= 1);
        diff += d != 0;
    }
    if (diff) std::fprintf(stderr, "%s: %lld of %zu codes differ from the CPU backend\n", what,
                           (long long)diff, vc.size());
    assert_true(double(diff) <= 0.005 * double(vc.size()));
    assert_memory_equal(v.g_idx.data(), c.g_idx.data(), v.g_idx.size() * 4);
    assert_memory_equal(v.perm.data(), c.perm.data(), v.perm.size() * 4);
    assert_int_equal(v.dead_columns, c.dead_columns);
    assert_int_equal(v.damp_retries, c.damp_retries);
    assert_true(std::fabs(v.loss - c.loss) <= 1e-3 * c.loss + 1e-30);
    if (diff == 0) {
        // Same codes: the device's packing (through the inverse permutation) must be the
        // host's, bit for bit, padding included.
        const std::vector<int32_t> want = host_qweight(c.codes, c.n, c.k, bits);
        assert_memory_equal(v.qweight.data(), want.data(), want.size() * 4);
        assert_memory_equal(v.zeros.data(), c.zeros.data(), v.zeros.size() * 4);
        // Dynamic groups take their scale from the working W, which carries the rounding
        // of every earlier update: the two backends' factors U are computed differently
        // (the CPU inverts the upper factor of H), so allow some tens of ulps.
        for (size_t i = 0; i < v.scales.size(); ++i)
            assert_true(std::fabs(v.scales[i] - c.scales[i]) <= 1e-5f * c.scales[i]);
    }
}

// One row of an option matrix.
struct OptionRow {
    int bits, group;
    bool sym, act, stat, mse;
    int bs;
};

inline gptq::QuantOptions options_of(const OptionRow &o) {
    gptq::QuantOptions opt;
    opt.bits = o.bits;
    opt.group_size = o.group;
    opt.sym = o.sym;
    opt.desc_act = o.act;
    opt.static_groups = o.stat;
    opt.mse = o.mse;
    opt.block_size = o.bs;
    return opt;
}

// Quantizes with both backends from the same given H (dev: the Vulkan backend to use, the
// program's by default).
inline void both(const gptq::QuantOptions &opt, const std::vector<float> &w,
                 const std::vector<float> &h, int64_t n, int64_t k, gptq::QuantResult *v,
                 gptq::QuantResult *c, gptq::Backend *dev = nullptr) {
    gptq::Backend &vk = dev ? *dev : backend();
    auto hv = vk.create_hessian(k);
    auto hc = cpu()->create_hessian(k);
    hv->set(h.data(), 100);
    hc->set(h.data(), 100);
    std::vector<float> w1 = w, w2 = w;
    vk.quantize(opt, w1.data(), n, k, *hv, v);
    cpu()->quantize(opt, w2.data(), n, k, *hc, c);
}

inline std::vector<float> hessian_of(const std::vector<float> &x, int64_t t, int64_t k) {
    auto hc = cpu()->create_hessian(k);
    hc->add(x.data(), GPTQ_DTYPE_F32, t, k);
    std::vector<float> h(size_t(k * k));
    hc->read_scaled(h.data());
    return h;
}

} // namespace vkt
