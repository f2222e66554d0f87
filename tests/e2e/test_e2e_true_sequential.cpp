// True-sequential calibration keeps each block's intermediate states between module groups
// (examples/llama/sequential.cpp) instead of re-running the block from its input before each
// group. This test re-runs the block the plain way — for every group, every sequence through
// Forward::block from the block's input, up to the group's tap, with the modules quantized so
// far — and requires the stored layers of both runs to be equal bit for bit on the
// stories260K model (fp32 activations: the staged path must do the same float operations in
// the same order, so no tolerance applies).
#include "e2e_common.h"

#include "forward.h"
#include "loaders.h"
#include "sequential.h"

#include <random>

using namespace llama;

namespace {

std::vector<std::vector<int32_t>> random_sequences(const Config &c, int count, int len) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int32_t> id(3, int32_t(c.vocab_size) - 1);
    std::vector<std::vector<int32_t>> seqs(size_t(count), std::vector<int32_t>(size_t(len), 0));
    for (auto &s : seqs)
        for (int32_t &t : s) t = id(rng);
    return seqs;
}

gptq_qlayer *quantize_one(gptq_ctx *ctx, const gptq_quant_params &qp, const Linear &lin,
                          const gptq_hessian *h) {
    const gptq_matrix w = lin.matrix();
    gptq_qlayer *q = nullptr;
    if (gptq_quantize_layer(ctx, &qp, &w, h, &q, nullptr) != GPTQ_OK)
        fail_msg("quantize: %s", gptq_last_error(ctx));
    return through_checkpoint_layout(ctx, q, qp.sym ? GPTQ_ZEROS_V1 : GPTQ_ZEROS_V2);
}

// The plain true-sequential loop: the block re-run from its input for every group.
void quantize_plain(Model &m, gptq_ctx *ctx, const std::vector<std::vector<int32_t>> &calib,
                    const gptq_quant_params &qp) {
    const Forward fwd(m, ctx);
    std::vector<std::vector<float>> acts;
    for (const auto &s : calib) acts.push_back(fwd.embed(s));
    const std::vector<std::vector<int>> groups = {{kQ, kK, kV}, {kO}, {kGate, kUp}, {kDown}};
    LayerKV kv;
    for (int l = 0; l < int(m.cfg.n_layers); ++l) {
        for (const auto &group : groups) {
            const Tap t = tap_of(group[0]);
            gptq_hessian *h = nullptr;
            assert_int_equal(gptq_hessian_create(ctx, m.blocks[size_t(l)].lin[size_t(group[0])].k(), &h), GPTQ_OK);
            const TapFn tap = [&](Tap at, const float *x, int64_t rows, int64_t cols) {
                if (at != t) return;
                const gptq_matrix xm{x, GPTQ_DTYPE_F32, rows, cols, cols};
                assert_int_equal(gptq_hessian_add(h, &xm), GPTQ_OK);
            };
            for (const auto &a : acts) {
                std::vector<float> x = a;
                const int64_t T = int64_t(x.size()) / m.cfg.dim;
                kv.reserve(m.cfg, T);
                fwd.block(l, x.data(), T, 0, kv, &tap, &t);
            }
            for (int mod : group) {
                Linear &lin = m.blocks[size_t(l)].lin[size_t(mod)];
                lin.set_qlayer(quantize_one(ctx, qp, lin, h));
            }
            gptq_hessian_destroy(h);
        }
        for (auto &a : acts) {
            const int64_t T = int64_t(a.size()) / m.cfg.dim;
            kv.reserve(m.cfg, T);
            fwd.block(l, a.data(), T, 0, kv);
        }
    }
}

std::vector<int32_t> qweight_of(const Linear &lin) {
    gptq_qlayer_info info{};
    info.struct_size = sizeof info;
    assert_int_equal(gptq_qlayer_get_info(lin.qlayer(), &info), GPTQ_OK);
    std::vector<int32_t> qw(size_t(info.qweight_rows * info.qweight_cols));
    assert_int_equal(gptq_qlayer_get_qweight(lin.qlayer(), qw.data(), qw.size()), GPTQ_OK);
    std::vector<uint16_t> sc(size_t(info.scales_rows * info.scales_cols));
    assert_int_equal(gptq_qlayer_get_scales_f16(lin.qlayer(), sc.data(), sc.size()), GPTQ_OK);
    qw.insert(qw.end(), sc.begin(), sc.end());
    return qw;
}

// ffn_cache_bytes: how many SwiGLU outputs the staged run keeps for its output pass (the
// rest it recomputes); every budget must give the plain loop's layers.
void check_staged_equals_plain(uint64_t ffn_cache_bytes) {
    gptq_ctx *ctx = e2e::shared_ctx();
    const std::string path = e2e::g_paths.model;
    Model staged = load_model(path, ctx, false), plain = load_model(path, ctx, false);
    const auto calib = random_sequences(staged.cfg, 4, 64);
    QuantizeOptions opt;
    opt.params.desc_act = 1;  // act-order makes the codes depend on H's diagonal ordering too
    opt.compare_rtn = false;
    opt.ffn_cache_bytes = ffn_cache_bytes;
    e2e::no_throw([&] { quantize_model(staged, ctx, calib, opt); });
    gptq_quant_params qp = opt.params;
    e2e::no_throw([&] { quantize_plain(plain, ctx, calib, qp); });
    int layers = 0;
    for (size_t l = 0; l < staged.blocks.size(); ++l)
        for (int mod = 0; mod < kNumModules; ++mod) {
            const auto a = qweight_of(staged.blocks[l].lin[size_t(mod)]);
            const auto b = qweight_of(plain.blocks[l].lin[size_t(mod)]);
            if (a != b) fail_msg("layer %zu %s differs from the plain loop", l, module_short_name(mod));
            ++layers;
        }
    assert_int_equal(layers, int(staged.cfg.n_layers) * kNumModules);
}

void test_staged_equals_plain(void **) {
    check_staged_equals_plain(uint64_t(1) << 30);  // every SwiGLU output kept
    check_staged_equals_plain(0);                  // every one recomputed
    // Two of the four sequences kept (64 tokens x hidden_dim floats each).
    const Model m = load_model(e2e::g_paths.model, nullptr, false);
    check_staged_equals_plain(uint64_t(2 * 64 * m.cfg.hidden_dim) * sizeof(float));
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_staged_equals_plain)};
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
