// Quantized checkpoints: GPTQ vs RTN on the real model, write -> read back -> same
// perplexity, HF module naming, v1/v2 zero points, a v1 act-order checkpoint as other tools
// write it, and the fp32 llama2.c -> HF conversion read back by the HF loader.
#include "e2e_common.h"
#include "llama2c_tokenizer.h"

#include "checkpoint.h"
#include "convert.h"
#include "eval.h"
#include "file_io.h"
#include "half.h"
#include "loaders.h"
#include "safetensors.h"
#include "sequential.h"

#include <dirent.h>

#include <cmath>
#include <random>
#include <set>

using namespace llama;

namespace {

// Full calibration/evaluation sets for the quality claim; small ones where a test checks
// equality (any input shows a difference there), to keep sanitizer runs short.
struct Data {
    std::vector<std::vector<int32_t>> calib, eval, calib_small, eval_small;
};

const Data &data() {
    static Data d = [] {
        Data x;
        const Llama2cTokenizer tok(e2e::g_paths.tokenizer, 512);
        const auto docs = split_documents(read_text_file(e2e::g_paths.text));
        x.calib = tokenize_documents(tok, select_documents(docs, parse_doc_range("0:23")), 512);
        x.eval = tokenize_documents(tok, select_documents(docs, parse_doc_range("23:46")), 512);
        x.calib_small = tokenize_documents(tok, select_documents(docs, parse_doc_range("0:6")), 512);
        x.eval_small = tokenize_documents(tok, select_documents(docs, parse_doc_range("23:29")), 512);
        return x;
    }();
    return d;
}

Model quantized_model(int bits, int group, bool sym, bool rtn, std::vector<LayerRecord> *rec,
                      bool small = false) {
    Model m = load_llama2c(e2e::g_paths.model);
    to_hf_layout(m);
    QuantizeOptions opt;
    opt.params.bits = bits;
    opt.params.group_size = group;
    opt.params.sym = sym;
    opt.rtn = rtn;
    const auto &calib = small ? data().calib_small : data().calib;
    const auto r = quantize_model(m, e2e::shared_ctx(),
                                  rtn ? std::vector<std::vector<int32_t>>{} : calib, opt);
    if (rec) *rec = r;
    return m;
}

double eval_nll(const Model &m, bool small = false) {
    return evaluate(Forward(m, e2e::shared_ctx()), small ? data().eval_small : data().eval).mean_nll();
}

std::vector<std::string> list_dir(const std::string &dir) {
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    assert_non_null(d);
    while (dirent *e = readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    return names;
}

// Zero points unpacked from a qzeros tensor [groups, N*b/32] per docs/gptq-reference.md §5 (b = 4 here).
std::vector<int32_t> unpack_zeros4(const std::vector<int32_t> &qz, int64_t groups, int64_t n) {
    std::vector<int32_t> z(size_t(groups * n));
    const int64_t words = (n + 7) / 8;
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t c = 0; c < n; ++c)
            z[size_t(g * n + c)] = int32_t((uint32_t(qz[size_t(g * words + c / 8)]) >> (4 * (c % 8))) & 15u);
    return z;
}

// The headline claim at a cheap setting: GPTQ beats RTN at 3-bit g32 (asymmetric), both in
// the per-layer output error on the calibration Hessians and in held-out perplexity.
void test_gptq_beats_rtn(void **) {
    std::vector<LayerRecord> rec;
    const Model g = quantized_model(3, 32, false, false, &rec);
    const Model r = quantized_model(3, 32, false, true, nullptr);
    const double fp = eval_nll(load_llama2c(e2e::g_paths.model)), ng = eval_nll(g), nr = eval_nll(r);
    print_message("docs 23-45 perplexity: fp32 %.4f, GPTQ 3b g32 %.4f, RTN 3b g32 %.4f\n",
                  std::exp(fp), std::exp(ng), std::exp(nr));
    assert_true(fp < ng);
    assert_true(ng < nr);
    int better = 0;
    for (const LayerRecord &x : rec) {
        assert_true(x.rel_error >= 0 && x.rtn_rel_error >= 0);
        better += x.rel_error < x.rtn_rel_error;
    }
    // GPTQ minimises exactly this error (given its inputs), so it should win nearly every layer.
    assert_true(better >= int(rec.size()) - 1);
}

// Write -> read back: same tensors, same perplexity (same backend, and the in-memory layers
// already hold the fp16 scales a checkpoint stores, so the results are identical).
void test_roundtrip_asym_v2(void **) {
    const Model a = quantized_model(4, 32, false, false, nullptr, true);
    const std::string dir = e2e::make_temp_dir();
    SaveOptions so;
    so.tokenizer_path = e2e::g_paths.tokenizer;
    save_checkpoint(a, e2e::shared_ctx(), dir, so);
    const Model b = load_hf(dir, e2e::shared_ctx());
    assert_true(b.quant.quantized);
    assert_int_equal(b.quant.bits, 4);
    assert_int_equal(b.quant.group_size, 32);
    assert_int_equal(b.quant.zeros_format, GPTQ_ZEROS_V2);
    const double na = eval_nll(a, true), nb = eval_nll(b, true);
    print_message("in memory %.9f, read back %.9f\n", na, nb);
    assert_true(std::fabs(na - nb) <= 1e-12 * na);

    // v2 stores true zeros: the packed nibbles equal the layer's zero points (asymmetric
    // zeros include 0, which v1 could not store).
    const SafeTensorsFile f(join_path(dir, "model.safetensors"));
    bool saw_zero = false;
    for (int l = 0; l < 5; ++l)
        for (int mod = 0; mod < kNumModules; ++mod) {
            const Linear &lin = a.blocks[size_t(l)].lin[size_t(mod)];
            const int64_t groups = (lin.k() + 31) / 32;
            const auto z = unpack_zeros4(tensor_to_i32(f.get(module_hf_name(l, mod) + ".qzeros")),
                                         groups, lin.n());
            std::vector<int32_t> want(z.size());
            assert_int_equal(gptq_qlayer_get_zeros(lin.qlayer(), want.data(), want.size()), GPTQ_OK);
            for (size_t i = 0; i < z.size(); ++i) {
                assert_int_equal(z[i], want[i]);
                saw_zero |= want[i] == 0;
            }
        }
    (void)saw_zero;  // informative only: whether a zero of 0 occurs depends on the weights
    // Atomic writes leave no temporary files behind.
    for (const std::string &n : list_dir(dir)) assert_true(n.find("gptq-tmp") == std::string::npos);
    e2e::remove_tree(dir);
}

// Names as Hugging Face / vLLM expect them, and the two JSON files.
void test_module_naming_and_configs(void **) {
    const Model a = quantized_model(4, 128, true, true, nullptr);  // RTN: cheap
    const std::string dir = e2e::make_temp_dir();
    SaveOptions so;
    so.dtype = "f16";
    save_checkpoint(a, e2e::shared_ctx(), dir, so);
    const SafeTensorsFile f(join_path(dir, "model.safetensors"));
    std::set<std::string> want = {"model.embed_tokens.weight", "model.norm.weight"};
    const char *mods[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                          "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                          "mlp.down_proj"};
    for (int l = 0; l < 5; ++l) {
        const std::string pre = "model.layers." + std::to_string(l) + ".";
        want.insert(pre + "input_layernorm.weight");
        want.insert(pre + "post_attention_layernorm.weight");
        for (const char *m : mods)
            for (const char *s : {".qweight", ".qzeros", ".scales", ".g_idx"}) want.insert(pre + m + s);
    }
    std::set<std::string> got;
    for (const auto &kv : f.tensors()) got.insert(kv.first);
    assert_true(got == want);  // tied embeddings: no lm_head.weight
    // Shapes and dtypes of one module (q_proj 64x64, 4-bit, one group of 64 columns).
    const TensorInfo &qw = f.get("model.layers.0.self_attn.q_proj.qweight");
    assert_string_equal(qw.dtype.c_str(), "I32");
    expect_shape(qw, {64 * 4 / 32, 64});
    expect_shape(f.get("model.layers.0.self_attn.q_proj.qzeros"), {1, 64 * 4 / 32});
    assert_string_equal(f.get("model.layers.0.self_attn.q_proj.scales").dtype.c_str(), "F16");
    expect_shape(f.get("model.layers.0.mlp.down_proj.scales"), {2, 64});  // K = 172 -> 2 groups
    expect_shape(f.get("model.layers.0.mlp.down_proj.g_idx"), {172});
    assert_string_equal(f.get("model.embed_tokens.weight").dtype.c_str(), "F16");

    // Symmetric -> v1 ("gptq"): the stored zero is 8 - 1 = 7 for each of the 172 columns;
    // the 4 padding nibbles of the last word are 0.
    const auto qz = tensor_to_i32(f.get("model.layers.3.mlp.up_proj.qzeros"));
    assert_int_equal(qz.size(), 22);
    for (size_t i = 0; i < 21; ++i) assert_int_equal(uint32_t(qz[i]), 0x77777777u);
    assert_int_equal(uint32_t(qz[21]), 0x00007777u);
    const auto cfg = nlohmann::json::parse(read_text_file(join_path(dir, "config.json")));
    const auto qc = nlohmann::json::parse(read_text_file(join_path(dir, "quantize_config.json")));
    for (const auto *j : {&cfg["quantization_config"], &qc}) {
        assert_int_equal((*j)["bits"].get<int>(), 4);
        assert_int_equal((*j)["group_size"].get<int>(), 128);
        assert_true((*j)["sym"].get<bool>());
        assert_false((*j)["desc_act"].get<bool>());
        assert_string_equal((*j)["quant_method"].get<std::string>().c_str(), "gptq");
        assert_string_equal((*j)["checkpoint_format"].get<std::string>().c_str(), "gptq");
        for (const char *k : {"damp_percent", "static_groups", "true_sequential"}) assert_true(j->contains(k));
    }
    assert_int_equal(cfg["hidden_size"].get<int>(), 64);
    assert_int_equal(cfg["num_key_value_heads"].get<int>(), 4);
    assert_true(cfg["tie_word_embeddings"].get<bool>());
    assert_string_equal(cfg["torch_dtype"].get<std::string>().c_str(), "float16");
    // Read back: v1 zeros come back as true zeros (8) and the model still works.
    const Model b = load_hf(dir, e2e::shared_ctx());
    assert_int_equal(b.quant.zeros_format, GPTQ_ZEROS_V1);
    std::vector<int32_t> z(size_t(2 * 64));
    assert_int_equal(gptq_qlayer_get_zeros(b.blocks[0].lin[kDown].qlayer(), z.data(), z.size()), GPTQ_OK);
    for (int32_t v : z) assert_int_equal(v, 8);
    const double na = eval_nll(a, true), nb = eval_nll(b, true);
    // fp16 embeddings/norms: relative rounding 2^-11 moves the NLL by well under 1e-3.
    assert_true(std::fabs(na - nb) < 1e-3 * na);
    e2e::remove_tree(dir);
}

// A checkpoint as AutoGPTQ-era tools write it: no checkpoint_format (so v1), act-order with a
// non-monotonic g_idx, asymmetric zeros stored minus one, fp16 embeddings, bf16 lm_head.
// The loaded layers must dequantize to scale * (code - (stored + 1)) with g = g_idx[k],
// computed here independently of libgptq's packing code.
void test_foreign_v1_act_order(void **) {
    const int64_t D = 64, H = 96, V = 300, G = 32;
    const std::string dir = e2e::make_temp_dir();
    nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                          {"hidden_size", D}, {"intermediate_size", H}, {"num_hidden_layers", 1},
                          {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                          {"vocab_size", V}, {"max_position_embeddings", 128},
                          {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", false},
                          {"quantization_config", {{"bits", 4}, {"group_size", G}, {"desc_act", true},
                                                   {"sym", false}, {"quant_method", "gptq"}}}};
    e2e::write_bytes(join_path(dir, "config.json"), cfg.dump());
    std::mt19937 rng(7);
    SafeTensorsWriter w;
    auto randv = [&](size_t n, float lo, float hi) {
        std::uniform_real_distribution<float> u(lo, hi);
        std::vector<float> v(n);
        for (float &x : v) x = u(rng);
        return v;
    };
    w.add_f16_from_f32("model.embed_tokens.weight", {V, D}, randv(size_t(V * D), -1, 1).data());
    w.add_bf16_from_f32("lm_head.weight", {V, D}, randv(size_t(V * D), -1, 1).data());
    w.add_f32("model.norm.weight", {D}, randv(size_t(D), 0.5f, 1.5f).data());
    w.add_f16_from_f32("model.layers.0.input_layernorm.weight", {D}, randv(size_t(D), 0.5f, 1.5f).data());
    w.add_f16_from_f32("model.layers.0.post_attention_layernorm.weight", {D}, randv(size_t(D), 0.5f, 1.5f).data());
    const int64_t shapes[kNumModules][2] = {{64, 64}, {32, 64}, {32, 64}, {64, 64}, {96, 64}, {96, 64}, {64, 96}};
    struct Expect {
        std::vector<float> w;
    } expect[kNumModules];
    for (int mod = 0; mod < kNumModules; ++mod) {
        const int64_t n = shapes[mod][0], k = shapes[mod][1], groups = k / G;
        std::vector<int32_t> perm(static_cast<size_t>(k)), g_idx(static_cast<size_t>(k));
        for (int64_t i = 0; i < k; ++i) perm[size_t(i)] = int32_t(i);
        std::shuffle(perm.begin(), perm.end(), rng);
        for (int64_t i = 0; i < k; ++i) g_idx[size_t(perm[size_t(i)])] = int32_t(i / G);
        std::vector<int32_t> qweight(size_t(k / 8 * n), 0), qzeros(size_t(groups * n / 8), 0);
        std::vector<uint16_t> scales(size_t(groups * n));
        std::vector<int32_t> code(size_t(k * n)), zero(size_t(groups * n));
        for (auto &c : code) c = int32_t(rng() % 16);
        for (auto &z : zero) z = int32_t(1 + rng() % 15);  // v1 cannot hold a zero of 0
        for (auto &s : scales) s = float_to_half(0.001f + float(rng() % 1000) * 1e-5f);
        for (int64_t kk = 0; kk < k; ++kk)
            for (int64_t c = 0; c < n; ++c)
                qweight[size_t((kk / 8) * n + c)] |= int32_t(uint32_t(code[size_t(kk * n + c)]) << (4 * (kk % 8)));
        for (int64_t g = 0; g < groups; ++g)
            for (int64_t c = 0; c < n; ++c)
                qzeros[size_t(g * (n / 8) + c / 8)] |=
                    int32_t(uint32_t(zero[size_t(g * n + c)] - 1) << (4 * (c % 8)));
        expect[mod].w.resize(size_t(n * k));
        for (int64_t r = 0; r < n; ++r)
            for (int64_t kk = 0; kk < k; ++kk) {
                const int64_t g = g_idx[size_t(kk)];
                expect[mod].w[size_t(r * k + kk)] =
                    half_to_float(scales[size_t(g * n + r)]) *
                    float(code[size_t(kk * n + r)] - zero[size_t(g * n + r)]);
            }
        const std::string name = module_hf_name(0, mod);
        w.add_i32(name + ".qweight", {k / 8, n}, qweight.data());
        w.add_i32(name + ".qzeros", {groups, n / 8}, qzeros.data());
        w.add(name + ".scales", "F16", {groups, n}, scales.data(), scales.size() * 2);
        w.add_i32(name + ".g_idx", {k}, g_idx.data());
    }
    w.write(join_path(dir, "model.safetensors"));

    const Model m = load_hf(dir, e2e::shared_ctx());
    assert_int_equal(m.quant.zeros_format, GPTQ_ZEROS_V1);
    assert_true(m.quant.desc_act);
    assert_int_equal(m.lm_head.weight().size(), size_t(V * D));
    for (int mod = 0; mod < kNumModules; ++mod) {
        const Linear &lin = m.blocks[0].lin[size_t(mod)];
        assert_true(lin.quantized());
        std::vector<float> got(expect[mod].w.size());
        assert_int_equal(gptq_qlayer_dequantize(lin.qlayer(), got.data(), got.size()), GPTQ_OK);
        for (size_t i = 0; i < got.size(); ++i)
            assert_true(std::fabs(got[i] - expect[mod].w[i]) <= 1e-6f * (1.0f + std::fabs(expect[mod].w[i])));
    }
    // And it runs: finite logits from a short prompt.
    std::vector<LayerKV> cache;
    const auto logits = Forward(m, e2e::shared_ctx()).logits({1, 5, 9, 200}, 0, cache);
    for (float v : logits) assert_true(std::isfinite(v));
    e2e::remove_tree(dir);
}

// The unquantized model converted to HF (fp32, q/k rows permuted) and read back by the HF
// loader computes what the llama2.c model computes.
void test_fp32_export_matches_llama2c(void **) {
    const Model orig = load_llama2c(e2e::g_paths.model);
    Model conv = load_llama2c(e2e::g_paths.model);
    to_hf_layout(conv);
    const std::string dir = e2e::make_temp_dir();
    save_checkpoint(conv, e2e::shared_ctx(), dir, SaveOptions());
    const Model back = load_hf(dir, e2e::shared_ctx());
    assert_false(back.quant.quantized);
    assert_true(back.cfg.rope == RopeStyle::Halves);
    std::vector<int32_t> ids(data().eval[0].begin(), data().eval[0].begin() + 100);
    std::vector<LayerKV> c1, c2;
    const auto a = Forward(orig, e2e::shared_ctx()).logits(ids, 0, c1);
    const auto b = Forward(back, e2e::shared_ctx()).logits(ids, 0, c2);
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::fabs(a[i] - b[i])));
    assert_true(d < 1e-3);
    e2e::remove_tree(dir);
}

// Sharded HF checkpoints (model.safetensors.index.json + several files) load like one file,
// and quantizing a model read from HF safetensors gives exactly what quantizing the same
// weights read from llama2.c gives.
void test_sharded_hf_source(void **) {
    Model conv = load_llama2c(e2e::g_paths.model);
    to_hf_layout(conv);
    const std::string one = e2e::make_temp_dir(), sharded = e2e::make_temp_dir();
    save_checkpoint(conv, e2e::shared_ctx(), one, SaveOptions());
    {
        const SafeTensorsFile f(join_path(one, "model.safetensors"));
        SafeTensorsWriter a, b;
        nlohmann::json map = nlohmann::json::object();
        for (const auto &kv : f.tensors()) {
            const bool first = kv.first.find("layers.3") == std::string::npos &&
                               kv.first.find("layers.4") == std::string::npos;
            (first ? a : b).add(kv.first, kv.second.dtype, kv.second.shape, kv.second.data, kv.second.nbytes);
            map[kv.first] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        }
        a.write(join_path(sharded, "model-00001-of-00002.safetensors"));
        b.write(join_path(sharded, "model-00002-of-00002.safetensors"));
        e2e::write_bytes(join_path(sharded, "model.safetensors.index.json"),
                         nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump());
        e2e::write_bytes(join_path(sharded, "config.json"), read_text_file(join_path(one, "config.json")));
    }
    Model hf = load_hf(sharded, e2e::shared_ctx());
    QuantizeOptions opt;
    opt.params.bits = 4;
    opt.params.group_size = 32;
    opt.params.desc_act = 1;
    quantize_model(hf, e2e::shared_ctx(), data().calib_small, opt);
    quantize_model(conv, e2e::shared_ctx(), data().calib_small, opt);
    const double a = eval_nll(hf, true), b = eval_nll(conv, true);
    print_message("from HF shards %.9f, from llama2.c %.9f\n", a, b);
    assert_true(a == b);
    e2e::remove_tree(one);
    e2e::remove_tree(sharded);
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32_export_matches_llama2c),
        cmocka_unit_test(test_module_naming_and_configs),
        cmocka_unit_test(test_foreign_v1_act_order),
        cmocka_unit_test(test_roundtrip_asym_v2),
        cmocka_unit_test(test_gptq_beats_rtn),
        cmocka_unit_test(test_sharded_hf_source),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
