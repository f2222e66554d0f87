// Hugging Face architectures (Llama 3 with rope_scaling, Qwen2 with q/k/v biases, Qwen3 with
// q_norm/k_norm and head_dim != hidden/heads) against the float64 reference logits shipped
// with ../shared/models/tiny-random-*, their quantized checkpoints (every unquantized tensor
// kept under its HF name; reloading gives the in-memory model), refusals of what the forward
// does not compute, the paper's window protocol (sampler and window perplexity), and what
// eval/generate hold (hf_resident_cases.h).
// Usage: test_e2e_hf_arch MODELS_DIR [cpu|vulkan|cuda]. Missing models: exit 77.
#include "e2e_common.h"

#include "checkpoint.h"
#include "eval.h"
#include "file_io.h"
#include "loaders.h"
#include "memory_report.h"
#include "safetensors.h"
#include "sequential.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace llama;
using nlohmann::json;

namespace {

std::string g_models;
const char *const kModels[] = {"tiny-random-llama3", "tiny-random-qwen2", "tiny-random-qwen3"};

std::string model_dir(const char *name) { return g_models + "/" + name; }

struct Golden {
    std::vector<std::vector<int32_t>> rows;  // input_ids [2 x 48]
    std::vector<float> logits;               // [2 x 48 x 512]
};

Golden read_golden(const std::string &dir) {
    const SafeTensorsFile f(dir + "/golden_logits.safetensors");
    const TensorInfo &ids = f.get("input_ids");
    if (ids.dtype != "I64" || ids.shape.size() != 2) fail_msg("input_ids: expected I64 [B, T]");
    Golden g;
    const int64_t B = ids.shape[0], T = ids.shape[1];
    for (int64_t b = 0; b < B; ++b) {
        std::vector<int32_t> row;
        for (int64_t t = 0; t < T; ++t) {
            int64_t v;
            std::memcpy(&v, ids.data + size_t(b * T + t) * 8, 8);
            row.push_back(int32_t(v));
        }
        g.rows.push_back(row);
    }
    const TensorInfo &lg = f.get("logits");
    expect_shape(lg, {B, T, 512});
    g.logits = tensor_to_f32(lg);
    return g;
}

// max |ours - golden| / max |golden| over both rows, each run as its own sequence from 0.
double golden_error(const Model &m, const Golden &g) {
    const Forward fwd(m, e2e::shared_ctx());
    double err = 0.0, scale = 0.0;
    size_t off = 0;
    for (const auto &row : g.rows) {
        std::vector<LayerKV> cache;
        const std::vector<float> out = fwd.logits(row, 0, cache);
        for (size_t i = 0; i < out.size(); ++i) {
            err = std::max(err, std::fabs(double(out[i]) - double(g.logits[off + i])));
            scale = std::max(scale, std::fabs(double(g.logits[off + i])));
        }
        off += out.size();
    }
    return err / scale;
}

// The stated agreement of an fp32 forward with the float64 reference (../shared/README.md):
// fp32 rounding over 2 layers of width 64-192 stays near 1e-6 relative; a wrong convention
// (RoPE pairing or scaling, a missing bias or norm) moves logits by percents.
constexpr double kTolerance = 1e-4;

void test_golden_logits(void **) {
    for (const char *name : kModels) {
        const Model m = load_hf(model_dir(name), e2e::shared_ctx());
        const double e = golden_error(m, read_golden(model_dir(name)));
        std::printf("%s: max error %.3g of max |logit|\n", name, e);
        assert_true(e <= kTolerance);
    }
}

// Each architecture feature is needed to reach the reference: without it the error is far
// above the tolerance (so the test above cannot pass by accident).
void test_features_matter(void **) {
    Model llama3 = load_hf(model_dir("tiny-random-llama3"), e2e::shared_ctx());
    assert_true(llama3.cfg.rope_scaling.llama3);
    llama3.cfg.rope_scaling.llama3 = false;
    const double e1 = golden_error(llama3, read_golden(model_dir("tiny-random-llama3")));
    Model qwen2 = load_hf(model_dir("tiny-random-qwen2"), e2e::shared_ctx());
    assert_false(qwen2.blocks[0].bias[kQ].empty());
    for (Block &b : qwen2.blocks)
        for (auto &bias : b.bias) bias.clear();
    const double e2 = golden_error(qwen2, read_golden(model_dir("tiny-random-qwen2")));
    Model qwen3 = load_hf(model_dir("tiny-random-qwen3"), e2e::shared_ctx());
    assert_int_equal(qwen3.cfg.head_dim, 32);
    qwen3.cfg.qk_norm = false;
    const double e3 = golden_error(qwen3, read_golden(model_dir("tiny-random-qwen3")));
    std::printf("without rope_scaling %.3g, without biases %.3g, without q/k norm %.3g\n", e1, e2, e3);
    assert_true(e1 > 10 * kTolerance);
    assert_true(e2 > 10 * kTolerance);
    assert_true(e3 > 10 * kTolerance);
}

// A model directory whose config.json is base's edited by `edit`, sharing base's weights.
std::string edited_model(const std::string &tmp, const std::string &name,
                         const std::function<void(json &)> &edit,
                         const char *base = "tiny-random-llama3") {
    const std::string dir = tmp + "/" + name;
    make_directory(dir);
    json j = json::parse(read_text_file(model_dir(base) + "/config.json"));
    edit(j);
    e2e::write_bytes(dir + "/config.json", j.dump());
    const std::string weights = model_dir(base) + "/model.safetensors";
    if (::symlink(weights.c_str(), (dir + "/model.safetensors").c_str()) != 0)
        fail_msg("symlink failed");
    return dir;
}

void test_refusals(void **) {
    const std::string tmp = e2e::make_temp_dir();
    gptq_ctx *ctx = e2e::shared_ctx();
    auto refused = [&](const char *name, gptq_status st, const char *needle,
                       const std::function<void(json &)> &edit,
                       const char *base = "tiny-random-llama3") {
        const std::string dir = edited_model(tmp, name, edit, base);
        const std::string msg = e2e::expect_error([&] { load_hf(dir, ctx); }, st);
        if (msg.find(needle) == std::string::npos)
            fail_msg("%s: message '%s' does not name '%s'", name, msg.c_str(), needle);
    };
    refused("gemma", GPTQ_ERR_UNSUPPORTED, "'gemma2'", [](json &j) { j["model_type"] = "gemma2"; });
    refused("yarn", GPTQ_ERR_UNSUPPORTED, "'yarn'",
            [](json &j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
    refused("gelu", GPTQ_ERR_UNSUPPORTED, "gelu", [](json &j) { j["hidden_act"] = "gelu"; });
    // Integers are range-checked, not truncated (4294967300 would read as 4 in an int).
    refused("bigdim", GPTQ_ERR_FORMAT, "hidden_size",
            [](json &j) { j["hidden_size"] = 4294967300ll; });
    refused("bits", GPTQ_ERR_FORMAT, "bits", [](json &j) {
        j["quantization_config"] = {{"bits", 4294967300ll}, {"group_size", 32}, {"quant_method", "gptq"}};
    });
    refused("hugeu64", GPTQ_ERR_FORMAT, "vocab_size",
            [](json &j) { j["vocab_size"] = 18446744073709551615ull; });
    // Hyper-parameters must be finite and plausible.
    refused("theta", GPTQ_ERR_FORMAT, "rope_theta", [](json &j) { j["rope_theta"] = 1e300; });
    refused("eps", GPTQ_ERR_FORMAT, "rms_norm_eps", [](json &j) { j["rms_norm_eps"] = 1e300; });
    refused("eps0", GPTQ_ERR_FORMAT, "rms_norm_eps", [](json &j) { j["rms_norm_eps"] = 0.0; });
    // A bias in the file that the config does not declare is not silently dropped.
    refused("qwen2asllama", GPTQ_ERR_FORMAT, "q_proj",
            [](json &j) { j["model_type"] = "llama"; }, "tiny-random-qwen2");
    // Tensors the architecture does not use are not silently ignored (Qwen3 read as Llama).
    refused("qwen3asllama", GPTQ_ERR_FORMAT, "_norm.weight",
            [](json &j) { j["model_type"] = "llama"; }, "tiny-random-qwen3");
    e2e::remove_tree(tmp);
}

// An all-zero bias the config does not declare (AutoGPTQ writes one per quantized layer) is
// accepted and dropped; a non-zero one is refused.
void test_undeclared_bias(void **) {
    const std::string tmp = e2e::make_temp_dir();
    gptq_ctx *ctx = e2e::shared_ctx();
    Model m = load_hf(model_dir("tiny-random-llama3"), ctx);
    m.blocks[1].bias[kO].assign(size_t(m.cfg.dim), 0.0f);
    save_checkpoint(m, ctx, tmp + "/zero", SaveOptions());
    const Model z = load_hf(tmp + "/zero", ctx);
    assert_true(z.blocks[1].bias[kO].empty());
    m.blocks[1].bias[kO][3] = 0.5f;
    save_checkpoint(m, ctx, tmp + "/nonzero", SaveOptions());
    const std::string msg = e2e::expect_error([&] { load_hf(tmp + "/nonzero", ctx); }, GPTQ_ERR_FORMAT);
    assert_true(msg.find("model.layers.1.self_attn.o_proj") != std::string::npos);
    e2e::remove_tree(tmp);
}

// Mistral is Llama with a sliding window; sequences longer than the window are refused
// (the forward computes full attention only).
void test_sliding_window(void **) {
    const std::string tmp = e2e::make_temp_dir();
    const std::string dir = edited_model(tmp, "mistral", [](json &j) {
        j["model_type"] = "mistral";
        j["rope_scaling"] = nullptr;
        j["sliding_window"] = 16;
    });
    const Model m = load_hf(dir, e2e::shared_ctx());
    assert_int_equal(m.cfg.sliding_window, 16);
    assert_int_equal(m.cfg.context_length(), 16);
    const Forward fwd(m, e2e::shared_ctx());
    std::vector<LayerKV> cache;
    const std::vector<int32_t> ok(16, 5), too_long(17, 5);
    e2e::no_throw([&] { fwd.logits(ok, 0, cache); });
    const std::string msg = e2e::expect_error([&] {
        std::vector<LayerKV> c2;
        fwd.logits(too_long, 0, c2);
    }, GPTQ_ERR_UNSUPPORTED);
    assert_true(msg.find("sliding") != std::string::npos);
    e2e::remove_tree(tmp);
}

std::vector<int32_t> random_ids(size_t n, uint64_t seed) {
    std::vector<int32_t> ids(n);
    for (int32_t &v : ids) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        v = int32_t((seed >> 33) % 512);
    }
    return ids;
}

// Quantize -> save -> reload: the reloaded checkpoint computes exactly what the in-memory
// quantized model does, keeps every unquantized tensor under its HF name, and the output
// directory carries the source's tokenizer and generation files.
void test_checkpoint_roundtrip(void **) {
    gptq_ctx *ctx = e2e::shared_ctx();
    const std::vector<int32_t> text = random_ids(4000, 7);
    const auto calib = sample_windows(text, 8, 64, 1);
    const auto eval = split_windows(random_ids(400, 9), 48);
    for (const char *name : kModels) {
        const std::string tmp = e2e::make_temp_dir();
        // A source directory with the model plus tokenizer / generation files to copy.
        const std::string src = tmp + "/src", out = tmp + "/out";
        make_directory(src);
        for (const char *f : {"config.json", "model.safetensors"})
            if (::symlink((model_dir(name) + "/" + f).c_str(), (src + "/" + f).c_str()) != 0)
                fail_msg("symlink failed");
        e2e::write_bytes(src + "/tokenizer.json", "{\"model\": {}}");
        e2e::write_bytes(src + "/generation_config.json", "{\"do_sample\": false}");

        Model m = load_hf(src, ctx);
        QuantizeOptions opt;
        opt.params.bits = 4;
        opt.params.group_size = 32;
        opt.compare_rtn = false;
        quantize_model(m, ctx, calib, opt);
        SaveOptions so;
        so.source_dir = src;
        save_checkpoint(m, ctx, out, so);

        const Model back = load_hf(out, ctx);
        const Forward f1(m, ctx), f2(back, ctx);
        for (const auto &seq : eval) {
            std::vector<LayerKV> c1, c2;
            const std::vector<float> a = f1.logits(seq, 0, c1), b = f2.logits(seq, 0, c2);
            assert_int_equal(a.size(), b.size());
            assert_memory_equal(a.data(), b.data(), a.size() * sizeof(float));
        }
        const EvalResult r1 = evaluate(f1, eval), r2 = evaluate(f2, eval);
        assert_true(r1.nll_sum == r2.nll_sum);
        std::printf("%s 4-bit g32: perplexity %.4f (in memory) %.4f (checkpoint)\n", name,
                    r1.perplexity(), r2.perplexity());

        // Every tensor of the source that is not a quantized weight is stored under its name.
        const SafeTensorsFile srcf(model_dir(name) + "/model.safetensors");
        const SafeTensorsFile outf(out + "/model.safetensors");
        for (const auto &kv : srcf.tensors()) {
            const std::string &t = kv.first;
            const bool quantized_weight = t.find("_proj.weight") != std::string::npos;
            if (quantized_weight) {
                const std::string base = t.substr(0, t.size() - 7);
                assert_non_null(outf.find(base + ".qweight"));
                assert_null(outf.find(t));
            } else {
                if (!outf.find(t)) fail_msg("%s: checkpoint lacks '%s'", name, t.c_str());
                assert_true(outf.get(t).shape == kv.second.shape);
            }
        }
        assert_string_equal(e2e::read_bytes(out + "/tokenizer.json").c_str(), "{\"model\": {}}");
        assert_true(file_exists(out + "/generation_config.json"));
        const json cfg = json::parse(e2e::read_bytes(out + "/config.json"));
        const json orig = json::parse(e2e::read_bytes(model_dir(name) + "/config.json"));
        assert_true(cfg["architectures"] == orig["architectures"]);
        assert_true(cfg["model_type"] == orig["model_type"]);
        e2e::remove_tree(tmp);
    }
}

// The tokenizer a checkpoint was calibrated with lands in it, whatever its form.
void test_tokenizer_files(void **) {
    const std::string tmp = e2e::make_temp_dir();
    make_directory(tmp + "/tok");
    make_directory(tmp + "/a");
    make_directory(tmp + "/b");
    make_directory(tmp + "/c");
    e2e::write_bytes(tmp + "/tok/tokenizer.json", "{\"t\": 1}");
    e2e::write_bytes(tmp + "/tok/tokenizer_config.json", "{\"c\": 1}");
    e2e::write_bytes(tmp + "/tok/my.bin", "llama2c");
    copy_tokenizer(tmp + "/tok/tokenizer.json", tmp + "/a");  // a tokenizer.json + siblings
    assert_string_equal(e2e::read_bytes(tmp + "/a/tokenizer.json").c_str(), "{\"t\": 1}");
    assert_string_equal(e2e::read_bytes(tmp + "/a/tokenizer_config.json").c_str(), "{\"c\": 1}");
    assert_false(file_exists(tmp + "/a/tokenizer.bin"));
    copy_tokenizer(tmp + "/tok", tmp + "/b");  // a directory
    assert_true(file_exists(tmp + "/b/tokenizer.json") && file_exists(tmp + "/b/tokenizer_config.json"));
    copy_tokenizer(tmp + "/tok/my.bin", tmp + "/c");  // a llama2.c file
    assert_string_equal(e2e::read_bytes(tmp + "/c/tokenizer.bin").c_str(), "llama2c");
    assert_false(file_exists(tmp + "/c/tokenizer.json"));
    // A source directory with a tokenizer.json, calibrated with a llama2.c file: the
    // checkpoint gets only the tokenizer the run used, so a later run finds that one.
    for (const auto &[name, src] : checkpoint_extra_files(tmp + "/tok", tmp + "/tok/my.bin"))
        assert_true(name != "tokenizer.json" && name != "tokenizer_config.json");
    bool has_bin = false;
    for (const auto &f : checkpoint_extra_files(tmp + "/tok", tmp + "/tok/my.bin"))
        has_bin = has_bin || f.first == "tokenizer.bin";
    assert_true(has_bin);
    e2e::remove_tree(tmp);
}

void test_window_sampler(void **) {
    std::vector<int32_t> tokens(1000);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(i);
    const auto a = sample_windows(tokens, 64, 100, 42), b = sample_windows(tokens, 64, 100, 42);
    const auto c = sample_windows(tokens, 64, 100, 43);
    assert_int_equal(a.size(), 64);
    assert_true(a == b);  // deterministic for a seed
    assert_false(a == c);
    bool first = false, last = false;
    for (const auto &w : a) {
        assert_int_equal(w.size(), 100);
        // A window is consecutive text within bounds.
        assert_true(w.front() >= 0 && w.back() <= 999);
        for (size_t i = 1; i < w.size(); ++i) assert_int_equal(w[i], w[i - 1] + 1);
    }
    // Every start 0..900 is reachable: with 3000 draws over 901 starts both ends appear.
    for (const auto &w : sample_windows(tokens, 3000, 100, 5)) {
        first |= w.front() == 0;
        last |= w.front() == 900;
    }
    assert_true(first && last);
    assert_int_equal(sample_windows(tokens, 3, 1000, 1)[2].size(), 1000);  // the whole text
    e2e::expect_error([&] { sample_windows(tokens, 3, 1001, 1); }, GPTQ_ERR_INVALID_ARGUMENT);
    e2e::expect_error([&] { sample_windows(tokens, 0, 10, 1); }, GPTQ_ERR_INVALID_ARGUMENT);

    const auto s = split_windows(tokens, 300);
    assert_int_equal(s.size(), 3);  // the 100-token tail is dropped
    assert_int_equal(s[2].front(), 600);
    assert_int_equal(s[2].back(), 899);
    e2e::expect_error([&] { split_windows(tokens, 1001); }, GPTQ_ERR_INVALID_ARGUMENT);
}

// A model whose logits are known in closed form: zero linear layers (blocks add nothing),
// every embedding (1, 1), final norm 1, lm_head rows a_v (1/2, 1/2) with a = (0, ln 2, ln 3):
// every position predicts p = (1, 2, 3) / 6, so token t costs ln 6 - ln(t + 1) nats.
void test_window_perplexity(void **) {
    Model m;
    Config &c = m.cfg;
    c.dim = 2;
    c.hidden_dim = 2;
    c.n_layers = 1;
    c.n_heads = c.n_kv_heads = 1;
    c.head_dim = 2;
    c.vocab_size = 3;
    c.seq_len = 16;
    c.norm_eps = 1e-30f;  // vanishes next to the mean square 1
    c.tied_embeddings = false;
    allocate_model(m);
    std::fill(m.embed.weight().begin(), m.embed.weight().end(), 1.0f);
    std::fill(m.final_norm.begin(), m.final_norm.end(), 1.0f);
    for (Block &b : m.blocks) {
        std::fill(b.attn_norm.begin(), b.attn_norm.end(), 1.0f);
        std::fill(b.ffn_norm.begin(), b.ffn_norm.end(), 1.0f);
    }
    const float a[3] = {0.0f, float(std::log(2.0)), float(std::log(3.0))};
    for (int v = 0; v < 3; ++v) m.lm_head.weight()[size_t(2 * v)] = m.lm_head.weight()[size_t(2 * v + 1)] = a[v] / 2;
    const std::vector<int32_t> text = {0, 1, 2, 2, 1, 0, 2, 0, 1, 0, 2};
    const auto windows = split_windows(text, 5);  // [0 1 2 2 1] [0 2 0 1 0], tail 2 dropped
    const EvalResult r = evaluate(Forward(m, e2e::shared_ctx()), windows);
    // Predicted: 1 2 2 1 | 2 0 1 0 -> 8 ln 6 - (ln2 + ln3 + ln3 + ln2 + ln3 + 0 + ln2 + 0)
    //                                = 8 ln 6 - 3 ln 6 = 5 ln 6.
    assert_int_equal(r.tokens, 8);
    const double want = 5.0 * std::log(6.0) / 8.0;
    std::printf("window NLL %.9f, hand-computed %.9f\n", r.mean_nll(), want);
    assert_true(std::fabs(r.mean_nll() - want) < 1e-6);
    assert_true(std::fabs(r.perplexity() - std::pow(6.0, 5.0 / 8.0)) < 1e-5);
}

#include "hf_resident_cases.h"

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODELS_DIR [cpu|vulkan|cuda]\n", argv[0]);
        return 2;
    }
    // Absolute, so the symlinks the tests make in $TMPDIR resolve.
    char *abs = ::realpath(argv[1], nullptr);
    g_models = abs ? abs : argv[1];
    std::free(abs);
    for (const char *name : kModels)
        if (!file_exists(model_dir(name) + "/golden_logits.safetensors")) {
            std::fprintf(stderr, "%s: missing; skipped\n", model_dir(name).c_str());
            return 77;
        }
    const std::string b = argc > 2 ? argv[2] : "cpu";
    e2e::g_paths.backend = b == "vulkan" ? GPTQ_BACKEND_VULKAN
                           : b == "cuda" ? GPTQ_BACKEND_CUDA : GPTQ_BACKEND_CPU;
    e2e::shared_ctx();  // exits 77 when the backend is unusable
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_logits),     cmocka_unit_test(test_features_matter),
        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_undeclared_bias),
        cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_checkpoint_roundtrip), cmocka_unit_test(test_tokenizer_files),
        cmocka_unit_test(test_window_sampler),
        cmocka_unit_test(test_window_perplexity),
        cmocka_unit_test(test_stored_dtype_logits), cmocka_unit_test(test_resident_sizes),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
