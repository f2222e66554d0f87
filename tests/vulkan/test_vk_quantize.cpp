// GPTQ on the device against the CPU backend on synthetic layers: the code paths the
// reference vectors do not reach (wide blocks split across dispatches, long MSE searches
// split across dispatches, Hessians accumulated on the device, a CPU Hessian fed to the
// Vulkan backend), damping retries, failure statuses, cancellation, and device packing
// (qweight straight out of quantize(), pack_qzeros).
// With the same H the device does the CPU's fp32 operations in the same order, so codes
// are expected identical; the docs/reference-vectors.md §6 tolerance (>= 99.5 % identical, |dcode| <= 1) is
// what the test enforces, and any difference is printed.
#include "vk_quantize_common.h"

#include "backends/vulkan/vk_quantize.h"

#include <cstring>

using namespace vkt;

namespace {

void test_options_matrix(void **) {
    Rng r(1);
    const int64_t n = 24, k = 200, t = 400;
    const std::vector<float> x = activations(r, t, k, {3, 150});
    const std::vector<float> w = weights(r, n, k);
    const std::vector<float> h = hessian_of(x, t, k);
    const OptionRow opts[] = {{4, 128, false, false, false, false, 128}, {3, 32, false, true, false, false, 64},
                        {2, 48, true, true, true, false, 50},     {8, -1, false, true, false, false, 128},
                        {4, 32, false, true, false, true, 128},   {4, 64, true, false, true, true, 7},
                        {3, -1, false, false, false, true, 200}};
    for (const OptionRow &o : opts) {
        const gptq::QuantOptions opt = options_of(o);
        gptq::QuantResult v, c;
        both(opt, w, h, n, k, &v, &c);
        char what[96];
        std::snprintf(what, sizeof what, "b%d g%d sym%d act%d static%d mse%d bs%d", o.bits, o.group,
                      o.sym, o.act, o.stat, o.mse, o.bs);
        compare(v, c, opt.bits, what);
        assert_int_equal(v.dead_columns, 2);
    }
}

// Blocks wider than the loop budget allows in one dispatch (kLoopBudget / block width
// columns each) and a per-row MSE search over k * steps values (split by steps).
void test_split_dispatches(void **) {
    Rng r(2);
    const int64_t n = 8, k = 700, t = 900;
    const std::vector<float> x = activations(r, t, k, {});
    const std::vector<float> w = weights(r, n, k);
    const std::vector<float> h = hessian_of(x, t, k);
    gptq::QuantOptions opt;
    opt.group_size = 128;
    opt.block_size = 700;  // 46 columns per dispatch
    gptq::QuantResult v, c;
    both(opt, w, h, n, k, &v, &c);
    compare(v, c, opt.bits, "block 700");
    opt.group_size = -1;
    opt.block_size = 128;
    opt.mse = true;  // 80 steps x 700 columns
    both(opt, w, h, n, k, &v, &c);
    compare(v, c, opt.bits, "per-row mse k 700");
}

// The Hessian accumulated on the device feeds quantize() without leaving it; a CPU
// Hessian is accepted too. H differs from the CPU's by summation order only.
void test_hessian_sources(void **) {
    Rng r(3);
    const int64_t n = 16, k = 96, t = 300;
    const std::vector<float> x = activations(r, t, k, {10});
    const std::vector<float> w = weights(r, n, k);
    auto hv = backend().create_hessian(k);
    hv->add(x.data(), GPTQ_DTYPE_F32, t, k);
    auto hc = cpu()->create_hessian(k);
    hc->add(x.data(), GPTQ_DTYPE_F32, t, k);
    gptq::QuantOptions opt;
    opt.group_size = 32;
    opt.desc_act = true;
    gptq::QuantResult v1, v2, c;
    std::vector<float> w1 = w, w2 = w, w3 = w;
    backend().quantize(opt, w1.data(), n, k, *hv, &v1);
    backend().quantize(opt, w2.data(), n, k, *hc, &v2);
    cpu()->quantize(opt, w3.data(), n, k, *hc, &c);
    compare(v1, c, opt.bits, "device Hessian");
    compare(v2, c, opt.bits, "CPU Hessian on the device");
}

// H = I except a 2 x 2 block [[1, 1.2], [1.2, 1]] (eigenvalue -0.2): damping must reach
// 0.21 (mean diagonal 1), i.e. two retries from 0.01 in steps of 0.1.
std::vector<float> indefinite_h(int64_t k) {
    std::vector<float> h(size_t(k * k), 0.0f);
    for (int64_t i = 0; i < k; ++i) h[size_t(i * k + i)] = 1.0f;
    h[size_t(0 * k + 1)] = h[size_t(1 * k + 0)] = 1.2f;
    return h;
}

void test_damping_retries(void **) {
    Rng r(4);
    const int64_t n = 4, k = 40;
    gptq::QuantOptions opt;
    opt.group_size = -1;
    opt.damp_auto_increment = 0.1f;
    const std::vector<float> w = weights(r, n, k);
    gptq::QuantResult v, c;
    both(opt, w, indefinite_h(k), n, k, &v, &c);
    assert_int_equal(v.damp_retries, 2);
    assert_true(std::fabs(v.damp_used - 0.21) < 1e-6);
    compare(v, c, opt.bits, "damping retries");
}

void test_not_positive_definite(void **) {
    Rng r(5);
    const int64_t n = 4, k = 40;
    gptq::QuantOptions opt;
    opt.layer_name = "blk.0.q";
    opt.damp_auto_increment = 0.0f;
    std::vector<float> w = weights(r, n, k);
    auto hv = backend().create_hessian(k);
    const std::vector<float> h = indefinite_h(k);
    hv->set(h.data(), 1);
    gptq::QuantResult v;
    try {
        backend().quantize(opt, w.data(), n, k, *hv, &v);
        fail_msg("an indefinite Hessian was accepted");
    } catch (const gptq::Error &e) {
        assert_int_equal(e.status(), GPTQ_ERR_NOT_POSITIVE_DEFINITE);
        assert_non_null(std::strstr(e.what(), "blk.0.q"));
    }
}

int cancel_at_first(void *, int64_t, int64_t) { return 1; }

void test_cancel(void **) {
    Rng r(6);
    const int64_t n = 4, k = 64;
    gptq::QuantOptions opt;
    opt.block_size = 8;
    opt.progress = cancel_at_first;
    std::vector<float> w = weights(r, n, k);
    std::vector<float> h(size_t(k * k), 0.0f);
    for (int64_t i = 0; i < k; ++i) h[size_t(i * k + i)] = 1.0f;
    auto hv = backend().create_hessian(k);
    hv->set(h.data(), 1);
    gptq::QuantResult v;
    try {
        backend().quantize(opt, w.data(), n, k, *hv, &v);
        fail_msg("cancellation was ignored");
    } catch (const gptq::Error &e) {
        assert_int_equal(e.status(), GPTQ_ERR_CANCELLED);
    }
}

// Packing on the device is bit-exact with core/pack.cpp for every width.
void test_pack(void **) {
    Rng r(7);
    for (int bits : {2, 3, 4, 8})
        for (int64_t k : {1, 31, 32, 33, 172, 300}) {
            const int64_t n = 37;
            std::vector<uint8_t> codes(size_t(k * n));
            for (auto &c : codes) c = uint8_t(r.below(1 << bits));
            const int64_t rows = gptq::packed_len(k, bits);
            std::vector<int32_t> want(size_t(rows * n)), got(size_t(rows * n), -1);
            gptq::pack_rows(codes.data(), k, n, bits, want.data());
            gptq::vk::device_pack_rows(backend().context(), codes.data(), k, n, bits, got.data());
            assert_memory_equal(got.data(), want.data(), want.size() * 4);
        }
}

// qzeros packed on the device are bit-exact with the host default (the CPU backend's
// Backend::pack_qzeros) for every width, v1 and v2, N not a multiple of the codes per word,
// v1 zeros of maxq + 1 (imported v1 layers), and more groups than one dispatch's grid.
void test_pack_qzeros(void **) {
    Rng r(8);
    struct Shape { int64_t n, n_groups; };
    for (int bits : {2, 3, 4, 8})
        for (Shape sh : {Shape{7, 3}, Shape{48, 1}, Shape{172, 5}, Shape{33, 70000}})
            for (int offset : {0, 1}) {
                if (sh.n_groups > 5 && bits != 3) continue;  // the big grid once is enough
                gptq::QLayer q;
                q.n = sh.n;
                q.bits = bits;
                q.n_groups = sh.n_groups;
                const int maxq = (1 << bits) - 1;
                q.zeros.resize(size_t(q.n_groups * q.n));
                for (auto &z : q.zeros) z = int32_t(r.below(maxq + 1 + offset));
                const int64_t qcols = gptq::packed_len(q.n, bits);
                std::vector<int32_t> want(size_t(q.n_groups * qcols), -1), got(want.size(), -1);
                cpu()->pack_qzeros(q, offset, want.data());
                backend().pack_qzeros(q, offset, got.data());
                assert_memory_equal(got.data(), want.data(), want.size() * 4);
                // And against the definition, code by code.
                for (int64_t g = 0; g < q.n_groups; g += 1 + q.n_groups / 7)
                    for (int64_t i = 0; i < q.n; ++i)
                        assert_int_equal(gptq::packed_code_at(got.data() + g * qcols, 1, i, bits),
                                         uint32_t(q.zeros[size_t(g * q.n + i)] - offset) &
                                             uint32_t(maxq));
            }
}

// The kernel families of the column loop: gptq_block_bcast must give gptq_block's results
// bit for bit (same operations in the same order, see its header), for whole blocks, blocks
// split across dispatches (k 700, block 700) and act-order / static groups; the register-
// blocked trailing update (n, k multiples of 4 here) and the tiled one are each checked
// against the CPU with the usual tolerance.
void test_kernel_families(void **) {
    using P = gptq::vk::Context::Products;
    gptq::vk::Context &ctx = backend().context();
    Rng r(9);
    struct Case { int64_t n, k, bs; bool act, stat; };
    const Case cases[] = {{16, 200, 64, false, false}, {8, 700, 700, true, false},
                          {12, 136, 128, true, true}};
    for (const Case &cs : cases) {
        const std::vector<float> x = activations(r, 300, cs.k, {5});
        const std::vector<float> w = weights(r, cs.n, cs.k);
        const std::vector<float> h = hessian_of(x, 300, cs.k);
        gptq::QuantOptions opt;
        opt.group_size = 32;
        opt.block_size = int(cs.bs);
        opt.desc_act = cs.act;
        opt.static_groups = cs.stat;
        gptq::QuantResult old_block, new_block, c;
        for (P products : {P::Tiled, P::Bcast}) {
            ctx.products = products;
            ctx.block_bcast = false;
            both(opt, w, h, cs.n, cs.k, &old_block, &c);
            compare(old_block, c, opt.bits, products == P::Tiled ? "tiled, gptq_block" : "bcast, gptq_block");
            ctx.block_bcast = true;
            both(opt, w, h, cs.n, cs.k, &new_block, &c);
            compare(new_block, c, opt.bits, "gptq_block_bcast");
            assert_true(new_block.qweight == old_block.qweight);
            assert_true(new_block.codes == old_block.codes);
            assert_memory_equal(new_block.scales.data(), old_block.scales.data(),
                                old_block.scales.size() * 4);
            assert_true(new_block.zeros == old_block.zeros);
            assert_true(new_block.loss == old_block.loss);
        }
        ctx.products = P::Auto;
    }
}

} // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(test_options_matrix),   cmocka_unit_test(test_split_dispatches),
        cmocka_unit_test(test_kernel_families),
        cmocka_unit_test(test_hessian_sources),  cmocka_unit_test(test_damping_retries),
        cmocka_unit_test(test_not_positive_definite), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_pack), cmocka_unit_test(test_pack_qzeros),
    };
    const int rc = run("test_vk_quantize", tests, sizeof tests / sizeof tests[0]);
    cpu().reset();
    return rc;
}
