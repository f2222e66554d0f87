// Shared scaffolding of the Vulkan white-box tests: one backend per test program (exit 77,
// reported as skipped, when no Vulkan device exists), a deterministic RNG, random layers,
// and the rule that any validation-layer message fails the program.
#pragma once

#include "backends/vulkan/vk_backend.h"
#include "backends/vulkan/vk_device.h"
#include "core/error.h"
#include "core/half.h"
#include "core/pack.h"
#include "core/qlayer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

namespace vkt {

// Unit roundoff of fp32.
constexpr double kU = 1.0 / 16777216.0;

inline std::unique_ptr<gptq::vk::VulkanBackend> &backend_slot() {
    static std::unique_ptr<gptq::vk::VulkanBackend> b;
    return b;
}
inline gptq::vk::VulkanBackend &backend() { return *backend_slot(); }

// Creates the backend, runs the group, then fails the program on any validation message.
inline int run(const char *name, const CMUnitTest *tests, size_t n) {
    gptq_ctx_params p{};
    p.struct_size = sizeof p;
    p.backend = GPTQ_BACKEND_VULKAN;
    p.device_index = 0;
    try {
        backend_slot() = std::make_unique<gptq::vk::VulkanBackend>(p);
    } catch (const gptq::Error &e) {
        std::fprintf(stderr, "%s: skipped: %s\n", name, e.what());
        return 77;
    }
    std::fprintf(stderr, "%s: device %s\n", name, backend().device_name().c_str());
    int rc = _cmocka_run_group_tests(name, tests, n, nullptr, nullptr);
    backend_slot().reset();
    const uint64_t msgs = gptq::vk::validation_message_count();
    if (msgs != 0) {
        std::fprintf(stderr, "%s: FAILED: %llu Vulkan validation message(s)\n", name,
                     (unsigned long long)msgs);
        rc = rc ? rc : 1;
    }
    return rc;
}

struct Rng {
    std::mt19937_64 gen;
    explicit Rng(uint64_t seed) : gen(seed) {}
    double normal() { return std::normal_distribution<double>(0.0, 1.0)(gen); }
    double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(gen); }
    int64_t below(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(gen); }
};

// A random quantized layer: random codes/scales/zeros; with act-order a random g_idx
// (groups of G consecutive positions of a random permutation).
inline gptq::QLayer random_layer(Rng &r, int64_t n, int64_t k, int bits, int group_size,
                                 bool act_order) {
    gptq::QLayer q;
    q.n = n;
    q.k = k;
    q.bits = bits;
    q.group_size = group_size;
    q.group_cols = group_size < 0 ? k : group_size;
    q.n_groups = (k + q.group_cols - 1) / q.group_cols;
    q.desc_act = act_order;
    const int maxq = (1 << bits) - 1;
    std::vector<uint8_t> codes(size_t(k * n));  // [k][n]
    for (auto &c : codes) c = uint8_t(r.below(maxq + 1));
    q.qweight.assign(size_t(gptq::packed_len(k, bits) * n), 0);
    gptq::pack_rows(codes.data(), k, n, bits, q.qweight.data());
    q.scales.resize(size_t(q.n_groups * n));
    q.zeros.resize(size_t(q.n_groups * n));
    for (auto &s : q.scales) s = float(r.uniform(0.001, 0.05));
    for (auto &z : q.zeros) z = int32_t(r.below(maxq + 1));
    q.perm.resize(size_t(k));
    std::iota(q.perm.begin(), q.perm.end(), 0);
    if (act_order) std::shuffle(q.perm.begin(), q.perm.end(), r.gen);
    q.g_idx.resize(size_t(k));
    for (int64_t i = 0; i < k; ++i) q.g_idx[size_t(q.perm[size_t(i)])] = int32_t(i / q.group_cols);
    return q;
}

// Dequantized weight [n][k] in fp32 exactly as docs/gptq-reference.md defines it.
inline std::vector<float> dequant(const gptq::QLayer &q) {
    std::vector<float> w(size_t(q.n * q.k));
    for (int64_t k = 0; k < q.k; ++k) {
        const int64_t g = q.g_idx[size_t(k)];
        for (int64_t n = 0; n < q.n; ++n) {
            const int code = int(gptq::packed_code_at(q.qweight.data() + n, q.n, k, q.bits));
            w[size_t(n * q.k + k)] =
                q.scales[size_t(g * q.n + n)] * float(code - q.zeros[size_t(g * q.n + n)]);
        }
    }
    return w;
}

// Codes [n][k] of a Vulkan quantization result, which returns them only packed in
// checkpoint layout (qweight [packed_len(k, bits)][n], natural order); checks that shape.
inline std::vector<uint8_t> unpacked_codes(const gptq::QuantResult &r, int bits) {
    assert_true(r.codes.empty());
    assert_int_equal(r.qweight.size(), size_t(gptq::packed_len(r.k, bits) * r.n));
    std::vector<uint8_t> t(size_t(r.k * r.n));  // [k][n]
    gptq::unpack_rows(r.qweight.data(), r.k, r.n, bits, t.data());
    std::vector<uint8_t> codes(t.size());
    for (int64_t j = 0; j < r.k; ++j)
        for (int64_t i = 0; i < r.n; ++i) codes[size_t(i * r.k + j)] = t[size_t(j * r.n + i)];
    return codes;
}

// qweight of codes [n][k] packed on the host (core/pack.cpp), padding included.
inline std::vector<int32_t> host_qweight(const std::vector<uint8_t> &codes, int64_t n, int64_t k,
                                         int bits) {
    std::vector<uint8_t> t(size_t(k * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) t[size_t(j * n + i)] = codes[size_t(i * k + j)];
    std::vector<int32_t> q(size_t(gptq::packed_len(k, bits) * n));
    gptq::pack_rows(t.data(), k, n, bits, q.data());
    return q;
}

} // namespace vkt
