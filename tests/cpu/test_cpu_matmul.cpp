// White-box tests of the CPU quantized matmul: y = x * dequant(Q)^T for 2/3/4/8 bits,
// monotonic and act-order (shuffled) g_idx, the small-M qgemv path (every instruction-set
// variant this CPU runs, uniform and mixed-group runs, vector and scalar-tail columns), the
// GEMM path and the chunk boundary, F32/F16/BF16 inputs with row strides. The layer is
// packed here from docs/gptq-reference.md's bit layout (independently of src/core/pack.cpp) and the
// reference product is computed in double from the dequantized weights.
#include "backends/cpu/cpu_matmul.h"
#include "backends/cpu/qgemv.h"
#include "backends/cpu/qgemv_group_order.h"
#include "backends/cpu/thread_pool.h"
#include "core/half.h"
#include "core/pack.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
}

namespace {

constexpr double kU = 1.0 / 16777216.0;

// Sets code c at packed index i (along K) of column n: bit b*i of the column's bit stream,
// 32 bits per word, words stacked along K with stride `n_cols` (docs/gptq-reference.md §5; for 3 bits this is
// exactly the 3-word layout, since codes straddle words in stream order).
void put_code(std::vector<int32_t> &qw, int64_t n_cols, int64_t n, int64_t i, int bits,
              uint32_t c) {
    for (int b = 0; b < bits; ++b) {
        const int64_t bit = i * bits + b;
        if (c >> b & 1u) {
            uint32_t &w = reinterpret_cast<uint32_t &>(qw[size_t((bit / 32) * n_cols + n)]);
            w |= 1u << (bit % 32);
        }
    }
}

struct Layer {
    gptq::QLayer q;
    std::vector<int32_t> codes;  // [k][n]
};

Layer make_layer(int64_t n, int64_t k, int bits, int64_t g, bool shuffled, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Layer l;
    auto &q = l.q;
    q.n = n, q.k = k, q.bits = bits, q.group_size = int(g), q.group_cols = g;
    q.n_groups = (k + g - 1) / g;
    const int maxq = (1 << bits) - 1;
    l.codes.resize(size_t(k * n));
    for (auto &c : l.codes) c = int32_t(rng() % uint64_t(maxq + 1));
    const int64_t words = (k * bits + 31) / 32;
    const int64_t rows = bits == 3 ? ((k + 31) / 32) * 3 : words;
    q.qweight.assign(size_t(rows * n), 0);
    for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t c = 0; c < n; ++c)
            put_code(q.qweight, n, c, kk, bits, uint32_t(l.codes[size_t(kk * n + c)]));
    std::uniform_real_distribution<float> us(0.001f, 0.05f);
    q.scales.resize(size_t(q.n_groups * n));
    for (auto &s : q.scales) s = us(rng);
    q.zeros.resize(size_t(q.n_groups * n));
    for (auto &z : q.zeros) z = int32_t(rng() % uint64_t(maxq + 1));
    q.g_idx.resize(size_t(k));
    q.perm.resize(size_t(k));
    for (int64_t i = 0; i < k; ++i) q.perm[size_t(i)] = int32_t(i);
    if (shuffled) std::shuffle(q.perm.begin(), q.perm.end(), rng);
    // Act-order layout: g_idx[perm[i]] = i / G (non-monotonic when shuffled).
    for (int64_t i = 0; i < k; ++i) q.g_idx[size_t(q.perm[size_t(i)])] = int32_t(i / g);
    return l;
}

float dequant(const Layer &l, int64_t kk, int64_t c) {
    const int64_t g = l.q.g_idx[size_t(kk)];
    return l.q.scales[size_t(g * l.q.n + c)] *
           float(l.codes[size_t(kk * l.q.n + c)] - l.q.zeros[size_t(g * l.q.n + c)]);
}

// Counts outputs outside the bound. The reference is exact (double) for docs/gptq-reference.md's fp32
// weights w = fl(s (q - z)). Bound: gamma_{k+2} sum |x w|, gamma_n = n u / (1 - n u). The
// GEMM path and the scalar columns round each term at most k + 1 times (dot-product bound);
// qgemv's group runs (s * sum x (q - z)) add one rounding for the unrounded s (q - z) and
// one for the scale, with fewer for the sum across runs (derivation in qgemv.h): k + 2.
// A wrong code, zero, scale or group for even one term is off by about |x s|, far above
// this (test_checker_catches_one_code checks that).
int count_bad(const Layer &l, const std::vector<float> &xf, int64_t m, int64_t ldx,
              const std::vector<float> &y, int64_t ldy) {
    const int64_t n = l.q.n, k = l.q.k;
    const double gamma = double(k + 2) * kU / (1.0 - double(k + 2) * kU);
    int bad = 0;
    for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c) {
            double s = 0, sabs = 0;
            for (int64_t kk = 0; kk < k; ++kk) {
                const double t = double(xf[size_t(r * ldx + kk)]) * dequant(l, kk, c);
                s += t;
                sabs += std::fabs(t);
            }
            const double got = y[size_t(r * ldy + c)];
            if (!(std::fabs(got - s) <= gamma * sabs) && bad++ < 5)
                std::fprintf(stderr, "bits %d m %lld (%lld,%lld): %.9g vs %.9g\n", l.q.bits,
                             (long long)m, (long long)r, (long long)c, got, s);
        }
        for (int64_t c = n; c < ldy; ++c) bad += y[size_t(r * ldy + c)] != -7.0f;
    }
    return bad;
}

std::vector<float> random_x(int64_t m, int64_t ldx, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> x(size_t(m * ldx));
    for (auto &v : x) v = nd(rng);
    return x;
}

// Returns the number of bad outputs. Callers assert only after their ThreadPool is gone: a
// failed cmocka assertion longjmps out of the test, and a pool skipped that way would leave
// its workers waiting on a dead stack frame (the next test would hang, not fail).
int check(const Layer &l, int64_t m, gptq_dtype dtype, gptq::cpu::ThreadPool *pool,
          uint64_t seed) {
    const int64_t n = l.q.n, k = l.q.k, ldx = k + 7, ldy = n + 3;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> xf(size_t(m * ldx));
    std::vector<uint16_t> xh(size_t(m * ldx));
    for (size_t i = 0; i < xf.size(); ++i) {
        const float v = nd(rng);
        if (dtype == GPTQ_DTYPE_F16) xh[i] = gptq::f32_to_f16(v), xf[i] = gptq::f16_to_f32(xh[i]);
        else if (dtype == GPTQ_DTYPE_BF16) xh[i] = gptq::f32_to_bf16(v), xf[i] = gptq::bf16_to_f32(xh[i]);
        else xf[i] = v;
    }
    std::vector<float> y(size_t(m * ldy), -7.0f);
    const void *x = dtype == GPTQ_DTYPE_F32 ? static_cast<const void *>(xf.data()) : xh.data();
    gptq::cpu::cpu_matmul(l.q, x, dtype, m, ldx, y.data(), ldy, pool);
    return count_bad(l, xf, m, ldx, y, ldy);
}

void test_dequant_rows_exact(void **) {
    for (int bits : {2, 3, 4, 8}) {
        const Layer l = make_layer(37, 96, bits, 32, bits == 3, 40 + uint64_t(bits));
        std::vector<float> w(size_t(96 * 37));
        gptq::cpu::dequant_rows(l.q, 0, 96, 0, 37, w.data(), 37);
        for (int64_t kk = 0; kk < 96; ++kk)
            for (int64_t c = 0; c < 37; ++c) assert_true(w[size_t(kk * 37 + c)] == dequant(l, kk, c));
        // A sub-tile at an offset.
        std::vector<float> t(size_t(10 * 5));
        gptq::cpu::dequant_rows(l.q, 33, 10, 30, 5, t.data(), 5);
        for (int64_t i = 0; i < 10; ++i)
            for (int64_t c = 0; c < 5; ++c) assert_true(t[size_t(i * 5 + c)] == dequant(l, 33 + i, 30 + c));
    }
}

int bits_and_paths() {
    int bad = 0;
    gptq::cpu::ThreadPool pool(2);
    uint64_t seed = 1;
    for (int bits : {2, 3, 4, 8}) {
        for (bool shuffled : {false, true}) {
            // K = 200 is not a multiple of 32 (partial last 3-bit run, partial last group).
            const Layer l = make_layer(70, 200, bits, 64, shuffled, seed++);
            for (int64_t m : {1, 3, 8, 9, 40}) bad += check(l, m, GPTQ_DTYPE_F32, &pool, seed++);
        }
    }
    return bad;
}

void test_matmul_bits_and_paths(void **) { assert_int_equal(bits_and_paths(), 0); }

int dtypes_chunks_threads() {
    int bad = 0;
    gptq::cpu::ThreadPool pool(2);
    const Layer l = make_layer(300, 160, 4, 32, true, 99);
    for (gptq_dtype dt : {GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16}) {
        bad += check(l, 2, dt, &pool, 5);
        bad += check(l, 21, dt, &pool, 6);
    }
    bad += check(l, 530, GPTQ_DTYPE_F16, &pool, 7);  // crosses the 512-row chunk
    bad += check(l, 5, GPTQ_DTYPE_F32, nullptr, 8);  // no pool
    const Layer one = make_layer(1, 8, 4, 128, false, 3);  // group larger than K
    bad += check(one, 1, GPTQ_DTYPE_F32, &pool, 9);
    bad += check(one, 12, GPTQ_DTYPE_F32, &pool, 10);
    return bad;
}

void test_matmul_dtypes_chunks_threads(void **) { assert_int_equal(dtypes_chunks_threads(), 0); }

const gptq::cpu::QgemvIsa kIsas[] = {gptq::cpu::QgemvIsa::Generic, gptq::cpu::QgemvIsa::Avx2,
                                     gptq::cpu::QgemvIsa::Avx512};

int run_qgemv(const Layer &l, int64_t m, gptq::cpu::QgemvIsa isa, gptq::cpu::ThreadPool *pool,
              uint64_t seed) {
    const int64_t ldx = l.q.k + 5, ldy = l.q.n + 3;
    const std::vector<float> x = random_x(m, ldx, seed);
    std::vector<float> y(size_t(m * ldy), -7.0f);
    gptq::cpu::qgemv(l.q, x.data(), m, ldx, y.data(), ldy, pool, isa);
    const int bad = count_bad(l, x, m, ldx, y, ldy);
    if (bad)
        std::fprintf(stderr, "isa %d bits %d n %lld k %lld g %d m %lld\n", int(isa), l.q.bits,
                     (long long)l.q.n, (long long)l.q.k, l.q.group_size, (long long)m);
    return bad;
}

// Every variant, bit width and row count 1..8. N = 301 gives whole column groups for every
// vector width plus a scalar tail; 1 and 9 columns are all tail. Group sizes: whole blocks
// (uniform runs), groups that split blocks (runs of mixed blocks between uniform ones),
// act-order (nearly all mixed) and one group for all K (uniform runs cut at 16 blocks).
int qgemv_variants() {
    int bad = 0;
    gptq::cpu::ThreadPool pool(2);
    uint64_t seed = 100;
    for (gptq::cpu::QgemvIsa isa : kIsas) {
        if (!gptq::cpu::qgemv_isa_supported(isa)) continue;
        for (int bits : {2, 3, 4, 8}) {
            struct Shape {
                int64_t n, k, g;
                bool shuffled;
            };
            for (const Shape &sh : {Shape{301, 1000, 64, false}, Shape{301, 200, 20, false},
                                    Shape{301, 200, 32, true}, Shape{40, 600, 600, false},
                                    Shape{9, 77, 77, false}, Shape{1, 40, 8, true}}) {
                const Layer l = make_layer(sh.n, sh.k, bits, sh.g, sh.shuffled, seed++);
                for (int64_t m = 1; m <= gptq::cpu::kQgemvMaxRows; ++m)
                    bad += run_qgemv(l, m, isa, m % 2 ? &pool : nullptr, seed++);
            }
        }
    }
    return bad;
}

void test_qgemv_variants(void **) { assert_int_equal(qgemv_variants(), 0); }

// K = 0: an empty sum is 0 on every path.
void test_qgemv_empty_k(void **) {
    const Layer l = make_layer(40, 0, 4, 128, false, 1);
    for (gptq::cpu::QgemvIsa isa : kIsas) {
        if (!gptq::cpu::qgemv_isa_supported(isa)) continue;
        std::vector<float> y(size_t(3 * 40), -7.0f);
        const float x = 0;
        gptq::cpu::qgemv(l.q, &x, 3, 0, y.data(), 40, nullptr, isa);
        for (float v : y) assert_true(v == 0.0f);
    }
}

// Issue 13 item 4: K not a multiple of the packed block leaves padding codes (0) in the last
// block. With act-order (mixed groups) and a scale so large that s * (0 - z) overflows while
// every real weight s * (q - z), q in {z - 1, z}, stays finite, the padding must still add
// exactly nothing: every output finite and within the usual bound (it was NaN: 0 * inf).
int qgemv_padding_huge_scales() {
    int bad = 0;
    gptq::cpu::ThreadPool pool(2);
    for (gptq::cpu::QgemvIsa isa : kIsas) {
        if (!gptq::cpu::qgemv_isa_supported(isa)) continue;
        for (int bits : {2, 3, 4, 8}) {
            // K = 203 leaves a partial last block for every width (4, 8, 16 or 32 codes).
            Layer l = make_layer(70, 203, bits, 32, true, 500 + uint64_t(bits));
            const int maxq = (1 << bits) - 1;
            for (auto &z : l.q.zeros) z = maxq;
            for (auto &sc : l.q.scales) sc = 2e38f;  // maxq * 2e38 overflows for every width
            std::fill(l.q.qweight.begin(), l.q.qweight.end(), 0);
            for (int64_t kk = 0; kk < l.q.k; ++kk)
                for (int64_t c = 0; c < l.q.n; ++c) {
                    int32_t &code = l.codes[size_t(kk * l.q.n + c)];
                    code = maxq - int32_t((kk + c) % 2);
                    put_code(l.q.qweight, l.q.n, c, kk, bits, uint32_t(code));
                }
            for (int64_t m = 1; m <= gptq::cpu::kQgemvMaxRows; ++m) {
                const int64_t ldx = l.q.k, ldy = l.q.n;
                std::vector<float> x = random_x(m, ldx, uint64_t(m));
                for (auto &v : x) v *= 1e-4f;  // keeps the sums (~|x| s sqrt(k)) finite
                std::vector<float> y(size_t(m * ldy), -7.0f);
                gptq::cpu::qgemv(l.q, x.data(), m, ldx, y.data(), ldy, &pool, isa);
                for (float v : y) bad += !std::isfinite(v);
                bad += count_bad(l, x, m, ldx, y, ldy);
            }
        }
    }
    return bad;
}

void test_qgemv_padding_huge_scales(void **) { assert_int_equal(qgemv_padding_huge_scales(), 0); }

// The bound must still catch a single wrong code: move one code of one column by one step
// and the check has to fail there.
void test_checker_catches_one_code(void **) {
    const Layer l = make_layer(64, 512, 4, 128, false, 77);
    const int64_t m = 2, ldx = l.q.k, ldy = l.q.n;
    const std::vector<float> x = random_x(m, ldx, 78);
    std::vector<float> y(size_t(m * ldy), -7.0f);
    gptq::cpu::qgemv(l.q, x.data(), m, ldx, y.data(), ldy, nullptr);
    assert_int_equal(count_bad(l, x, m, ldx, y, ldy), 0);
    const int64_t kk = 300, c = 17, g = l.q.g_idx[kk];
    y[size_t(1 * ldy + c)] += x[size_t(1 * ldx + kk)] * l.q.scales[size_t(g * l.q.n + c)];
    assert_int_equal(count_bad(l, x, m, ldx, y, ldy), 1);
}

// An act-order layer with groups of uneven sizes (each k in a random group, as a checkpoint's
// g_idx may have it): groups then end inside packed blocks, before and after reordering.
Layer uneven_groups(int64_t n, int64_t k, int bits, int64_t groups, uint64_t seed) {
    Layer l = make_layer(n, k, bits, (k + groups - 1) / groups, true, seed);
    std::mt19937_64 rng(seed + 1);
    for (auto &g : l.q.g_idx) g = int32_t(rng() % uint64_t(l.q.n_groups));
    return l;
}

// The group-ordered copy (qgemv_group_order.h): K' whole blocks, g_idx non-decreasing, every
// source column exactly once with its own codes, padding codes 0; built once and cached;
// natural-order layers get none.
void test_group_order_layout(void **) {
    for (int bits : {2, 3, 4, 8}) {
        const Layer l = uneven_groups(37, 203, bits, 5, 900 + uint64_t(bits));
        const int64_t per = bits == 3 ? 32 : 32 / bits;
        assert_true(gptq::cpu::needs_group_order(l.q));
        const gptq::cpu::GroupOrderedLayer *o = gptq::cpu::group_ordered(l.q);
        assert_non_null(o);
        assert_ptr_equal(gptq::cpu::group_ordered(l.q), o);  // cached
        const gptq::QLayer &r = o->layer;
        assert_int_equal(r.k % per, 0);
        assert_true(r.k <= l.q.k + l.q.n_groups * (per - 1));
        assert_int_equal(int64_t(o->src_k.size()), r.k);
        assert_int_equal(int64_t(r.qweight.size()), gptq::packed_len(r.k, bits) * r.n);
        std::vector<int> seen(size_t(l.q.k), 0);
        for (int64_t j = 0; j < r.k; ++j) {
            if (j > 0) assert_true(r.g_idx[size_t(j)] >= r.g_idx[size_t(j - 1)]);
            const int32_t src = o->src_k[size_t(j)];
            for (int64_t c = 0; c < r.n; ++c) {
                const uint32_t code = gptq::packed_code_at(r.qweight.data() + c, r.n, j, bits);
                if (src < 0) assert_int_equal(code, 0);
                else assert_int_equal(code, uint32_t(l.codes[size_t(src * l.q.n + c)]));
            }
            if (src < 0) continue;
            assert_int_equal(r.g_idx[size_t(j)], l.q.g_idx[size_t(src)]);
            ++seen[size_t(src)];
        }
        for (int v : seen) assert_int_equal(v, 1);
        // Groups start on block boundaries: a block never holds two groups.
        for (int64_t b = 0; b < r.k / per; ++b)
            assert_int_equal(r.g_idx[size_t(b * per)], r.g_idx[size_t(b * per + per - 1)]);
        // x follows the same order, 0 at the padding.
        const std::vector<float> x = random_x(2, l.q.k + 3, 5);
        std::vector<float> xg(size_t(2 * r.k));
        gptq::cpu::gather_x(*o, x.data(), 2, l.q.k + 3, xg.data());
        for (int64_t row = 0; row < 2; ++row)
            for (int64_t j = 0; j < r.k; ++j) {
                const int32_t src = o->src_k[size_t(j)];
                assert_true(xg[size_t(row * r.k + j)] ==
                            (src < 0 ? 0.0f : x[size_t(row * (l.q.k + 3) + src)]));
            }
    }
    const Layer natural = make_layer(40, 256, 4, 128, false, 3);
    assert_false(gptq::cpu::needs_group_order(natural.q));
    assert_null(gptq::cpu::group_ordered(natural.q));
}

// A device slot holding another backend's copy is replaced, not misread.
struct OtherDevice final : gptq::DeviceLayer {};
void test_group_order_replaces_foreign_copy(void **) {
    const Layer l = make_layer(33, 96, 4, 32, true, 8);
    static const char other_owner = 0;
    l.q.device = std::make_unique<OtherDevice>();
    l.q.device_owner = &other_owner;
    const gptq::cpu::GroupOrderedLayer *o = gptq::cpu::group_ordered(l.q);
    assert_non_null(o);
    assert_ptr_equal(l.q.device.get(), o);
    const std::vector<float> x = random_x(3, l.q.k, 9);
    std::vector<float> y(size_t(3 * l.q.n), -7.0f);
    gptq::cpu::qgemv(l.q, x.data(), 3, l.q.k, y.data(), l.q.n, nullptr);
    assert_int_equal(count_bad(l, x, 3, l.q.k, y, l.q.n), 0);
}

// Act-order layers through the reordered path against the double reference for every
// variant, bit width and M = 1..8: equal-size shuffled groups (whole blocks after
// reordering) and uneven random groups (padding inside groups), odd N and K.
int qgemv_act_order() {
    int bad = 0;
    gptq::cpu::ThreadPool pool(2);
    uint64_t seed = 700;
    for (gptq::cpu::QgemvIsa isa : kIsas) {
        if (!gptq::cpu::qgemv_isa_supported(isa)) continue;
        for (int bits : {2, 3, 4, 8}) {
            const Layer layers[] = {make_layer(301, 384, bits, 128, true, seed++),
                                    uneven_groups(77, 203, bits, 7, seed++),
                                    uneven_groups(16, 1000, bits, 3, seed++)};
            for (const Layer &l : layers)
                for (int64_t m = 1; m <= gptq::cpu::kQgemvMaxRows; ++m)
                    bad += run_qgemv(l, m, isa, m % 2 ? &pool : nullptr, seed++);
        }
    }
    return bad;
}

void test_qgemv_act_order(void **) { assert_int_equal(qgemv_act_order(), 0); }

// The same bits for any thread count (no pool, 1, 2 and 3 threads) on act-order and natural
// layers: a column's sum never depends on which thread computed it.
int thread_count_identity() {
    int bad = 0;
    gptq::cpu::ThreadPool p1(1), p2(2), p3(3);
    gptq::cpu::ThreadPool *pools[] = {nullptr, &p1, &p2, &p3};
    for (bool act : {false, true})
        for (int bits : {3, 4}) {
            const Layer l = make_layer(1100, 512, bits, 128, act, 40 + uint64_t(bits));
            for (int64_t m : {1, 5, 8}) {
                const std::vector<float> x = random_x(m, l.q.k, uint64_t(m));
                std::vector<float> first;
                for (gptq::cpu::ThreadPool *pool : pools) {
                    std::vector<float> y(size_t(m * l.q.n));
                    gptq::cpu::cpu_matmul(l.q, x.data(), GPTQ_DTYPE_F32, m, l.q.k, y.data(), l.q.n,
                                          pool);
                    if (first.empty()) first = y;
                    else bad += std::memcmp(first.data(), y.data(), y.size() * sizeof(float)) != 0;
                }
            }
        }
    return bad;
}

void test_qgemv_thread_count_identity(void **) { assert_int_equal(thread_count_identity(), 0); }

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequant_rows_exact),
        cmocka_unit_test(test_matmul_bits_and_paths),
        cmocka_unit_test(test_matmul_dtypes_chunks_threads),
        cmocka_unit_test(test_qgemv_variants),
        cmocka_unit_test(test_qgemv_empty_k),
        cmocka_unit_test(test_qgemv_padding_huge_scales),
        cmocka_unit_test(test_checker_catches_one_code),
        cmocka_unit_test(test_group_order_layout),
        cmocka_unit_test(test_group_order_replaces_foreign_copy),
        cmocka_unit_test(test_qgemv_act_order),
        cmocka_unit_test(test_qgemv_thread_count_identity),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
