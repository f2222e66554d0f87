// Streaming, sharded and atomic checkpoint output (examples/llama/stream_quantize.h,
// checkpoint_writer.h, staging_dir.h) on a small random bf16 model generated here as two
// shards with an index:
// - the streamed, multi-shard output holds exactly the bytes of the one-file output written
//   after quantization, and its shards and index are consistent;
// - a failure injected at every I/O step of a run that replaces an existing checkpoint
//   leaves that checkpoint intact and no staging or temporary files; a failure on a fresh
//   output leaves no directory;
// - SIGINT in the middle of writing removes the staging directory.
#include "e2e_common.h"

#include "checkpoint.h"
#include "checkpoint_writer.h"
#include "convert.h"
#include "error.h"
#include "file_io.h"
#include "loaders.h"
#include "safetensors.h"
#include "stream_quantize.h"

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>

using namespace llama;

namespace {

constexpr int64_t kDim = 64, kHidden = 96, kLayers = 3, kHeads = 4, kKvHeads = 2, kVocab = 96;

// Random weights (bf16), the first half of the tensors in one shard, the rest in another.
void write_random_model(const std::string &dir) {
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
        {"model.embed_tokens.weight", {kVocab, kDim}}, {"model.norm.weight", {kDim}},
        {"lm_head.weight", {kVocab, kDim}}};
    const int64_t hd = kDim / kHeads;
    for (int l = 0; l < kLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        tensors.push_back({p + "input_layernorm.weight", {kDim}});
        tensors.push_back({p + "post_attention_layernorm.weight", {kDim}});
        tensors.push_back({p + "self_attn.q_proj.weight", {kHeads * hd, kDim}});
        tensors.push_back({p + "self_attn.k_proj.weight", {kKvHeads * hd, kDim}});
        tensors.push_back({p + "self_attn.v_proj.weight", {kKvHeads * hd, kDim}});
        tensors.push_back({p + "self_attn.o_proj.weight", {kDim, kHeads * hd}});
        tensors.push_back({p + "mlp.gate_proj.weight", {kHidden, kDim}});
        tensors.push_back({p + "mlp.up_proj.weight", {kHidden, kDim}});
        tensors.push_back({p + "mlp.down_proj.weight", {kDim, kHidden}});
    }
    SafeTensorsWriter a, b;
    nlohmann::json map = nlohmann::json::object();
    int64_t total = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto &t = tensors[i];
        int64_t n = 1;
        for (int64_t d : t.second) n *= d;
        total += 2 * n;
        const bool norm = t.first.find("norm") != std::string::npos;
        std::vector<float> v(static_cast<size_t>(n));
        for (float &x : v) x = norm ? 1.0f + 0.1f * normal(rng) : 0.05f * normal(rng);
        const bool first = i < tensors.size() / 2;
        (first ? a : b).add_bf16_from_f32(t.first, t.second, v.data());
        map[t.first] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    a.write(join_path(dir, "model-00001-of-00002.safetensors"));
    b.write(join_path(dir, "model-00002-of-00002.safetensors"));
    e2e::write_bytes(join_path(dir, "model.safetensors.index.json"),
                     nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", map}}.dump());
    const nlohmann::json cfg = {{"model_type", "llama"},
                                {"hidden_size", kDim},
                                {"intermediate_size", kHidden},
                                {"num_hidden_layers", kLayers},
                                {"num_attention_heads", kHeads},
                                {"num_key_value_heads", kKvHeads},
                                {"vocab_size", kVocab},
                                {"max_position_embeddings", 64},
                                {"tie_word_embeddings", false},
                                {"torch_dtype", "bfloat16"}};
    e2e::write_bytes(join_path(dir, "config.json"), cfg.dump(2));
}

std::vector<std::vector<int32_t>> random_calibration() {
    std::mt19937 rng(99);
    std::vector<std::vector<int32_t>> seqs(4, std::vector<int32_t>(32));
    for (auto &s : seqs)
        for (int32_t &t : s) t = int32_t(rng() % kVocab);
    return seqs;
}

struct Fixture {
    std::string root, src;
    std::vector<std::vector<int32_t>> calib = random_calibration();
    Fixture() : root(e2e::make_temp_dir()), src(join_path(root, "src")) {
        make_directory(src);
        write_random_model(src);
    }
    ~Fixture() { e2e::remove_tree(root); }
    Model load(bool lazy = false) const {
        Model m = load_hf(src, e2e::shared_ctx(), lazy);
        to_hf_layout(m);
        return m;
    }
};

QuantizeOptions gptq_options(int bits) {
    QuantizeOptions o;
    o.params.bits = bits;
    o.params.group_size = 32;
    o.params.desc_act = 1;
    o.compare_rtn = false;
    return o;
}

std::vector<std::string> list_dir(const std::string &dir) {
    std::vector<std::string> names;
    if (DIR *d = ::opendir(dir.c_str())) {
        while (const dirent *e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Every file of a directory with its bytes.
std::map<std::string, std::string> snapshot(const std::string &dir) {
    std::map<std::string, std::string> s;
    for (const std::string &n : list_dir(dir)) s[n] = e2e::read_bytes(join_path(dir, n));
    return s;
}

// Tensors of a checkpoint directory, from model.safetensors or the index: name -> (dtype,
// shape, bytes). Also checks the index against the shards.
std::map<std::string, std::string> checkpoint_tensors(const std::string &dir) {
    std::map<std::string, std::string> out;
    auto add_file = [&](const std::string &file, const std::string *only_shard,
                        const nlohmann::json *map) {
        const SafeTensorsFile f(join_path(dir, file));
        for (const auto &kv : f.tensors()) {
            if (map) {
                assert_true(map->contains(kv.first));
                assert_string_equal((*map)[kv.first].get<std::string>().c_str(), only_shard->c_str());
            }
            out[kv.first] = kv.second.dtype + shape_string(kv.second.shape) +
                            std::string(reinterpret_cast<const char *>(kv.second.data), kv.second.nbytes);
        }
    };
    const std::string index = join_path(dir, "model.safetensors.index.json");
    if (!file_exists(index)) {
        add_file("model.safetensors", nullptr, nullptr);
        return out;
    }
    const nlohmann::json j = nlohmann::json::parse(e2e::read_bytes(index));
    const nlohmann::json &map = j.at("weight_map");
    std::map<std::string, int> shards;
    for (const auto &kv : map.items()) shards[kv.value().get<std::string>()] = 1;
    uint64_t total = 0;
    for (const auto &s : shards) {
        add_file(s.first, &s.first, &map);
        total += uint64_t(file_size(join_path(dir, s.first)));
    }
    assert_int_equal(out.size(), map.size());  // the index names exactly the stored tensors
    uint64_t data = 0;
    for (const auto &kv : map.items()) {
        const SafeTensorsFile f(join_path(dir, kv.value().get<std::string>()));
        data += f.get(kv.key()).nbytes;
    }
    assert_int_equal(j.at("metadata").at("total_size").get<uint64_t>(), data);
    assert_true(total > data);
    return out;
}

void test_stream_equals_whole_write(void **) {
    Fixture fx;
    const std::string ref = join_path(fx.root, "ref"), out = join_path(fx.root, "out");
    Model a = fx.load();
    quantize_model(a, e2e::shared_ctx(), fx.calib, gptq_options(4));
    save_checkpoint(a, e2e::shared_ctx(), ref, SaveOptions());
    assert_true(file_exists(join_path(ref, "model.safetensors")));
    assert_false(file_exists(join_path(ref, "model.safetensors.index.json")));

    Model b = fx.load(true);  // streaming input too: bf16 views of the mapped shards
    SaveOptions so;
    so.max_shard_bytes = 40000;  // the model is ~120 KB packed: several shards
    const StreamResult r =
        quantize_to_checkpoint(b, e2e::shared_ctx(), fx.calib, gptq_options(4), out, so);
    print_message("streamed into %zu shards\n", r.shards.size());
    assert_true(r.shards.size() >= 3);
    char expect_last[64];
    std::snprintf(expect_last, sizeof expect_last, "model-%05zu-of-%05zu.safetensors",
                  r.shards.size(), r.shards.size());
    assert_string_equal(r.shards.back().c_str(), expect_last);
    for (const std::string &s : r.shards) {
        const SafeTensorsFile f(join_path(out, s));
        uint64_t bytes = 0;
        for (const auto &kv : f.tensors()) bytes += kv.second.nbytes;
        assert_true(bytes <= so.max_shard_bytes || f.tensors().size() == 1);
    }
    const auto want = checkpoint_tensors(ref), got = checkpoint_tensors(out);
    assert_int_equal(want.size(), got.size());
    for (const auto &kv : want) {
        const auto it = got.find(kv.first);
        if (it == got.end()) fail_msg("streamed output lacks %s", kv.first.c_str());
        if (it->second != kv.second) fail_msg("tensor %s differs", kv.first.c_str());
    }
    for (const char *f : {"config.json", "quantize_config.json"})
        assert_true(e2e::read_bytes(join_path(ref, f)) == e2e::read_bytes(join_path(out, f)));
    // The sharded output loads back as a quantized model.
    const Model back = load_hf(out, e2e::shared_ctx());
    assert_true(back.quant.quantized);
    assert_int_equal(list_dir(fx.root).size(), 3);  // src, ref, out: nothing staged left over
}

// Counts (or fails at) the I/O steps of checkpoint writing.
struct FaultAt {
    int at = -1, count = 0;
    void operator()(const char *step) {
        if (count++ == at) throw std::runtime_error(std::string("injected failure at ") + step);
    }
};

void run_rtn(const Fixture &fx, const std::string &out, int bits) {
    Model m = fx.load(true);
    QuantizeOptions o = gptq_options(bits);
    o.rtn = true;
    SaveOptions so;
    so.max_shard_bytes = 40000;
    quantize_to_checkpoint(m, e2e::shared_ctx(), {}, o, out, so);
}

void test_failure_at_every_step(void **) {
    Fixture fx;
    const std::string out = join_path(fx.root, "out");
    run_rtn(fx, out, 4);
    const auto old = snapshot(out);
    // A successful replacement, counting its steps.
    FaultAt counter;
    checkpoint_io_hook = [&](const char *s) { counter(s); };
    const std::string fresh = join_path(fx.root, "fresh");
    run_rtn(fx, fresh, 3);
    const auto replacement = snapshot(fresh);
    e2e::remove_tree(fresh);
    const int steps = counter.count;
    print_message("%d I/O steps per run\n", steps);
    assert_true(steps > 10);
    int failed = 0;
    for (int at = 0; at < steps; ++at) {
        for (int existing = 0; existing < 2; ++existing) {
            const std::string target = existing ? out : fresh;
            FaultAt f;
            f.at = at;
            checkpoint_io_hook = [&](const char *s) { f(s); };
            bool threw = false;
            try {
                run_rtn(fx, target, 3);
            } catch (const std::exception &) {
                threw = true;
            }
            checkpoint_io_hook = nullptr;
            const std::vector<std::string> left = list_dir(fx.root);
            const std::vector<std::string> want_left =
                !existing && !threw ? std::vector<std::string>{"fresh", "out", "src"}
                                    : std::vector<std::string>{"out", "src"};
            if (left != want_left) {
                ++failed;
                print_error("step %d (%s output): directory holds %zu entries\n", at,
                            existing ? "existing" : "fresh", left.size());
            }
            if (existing) {
                const auto now = snapshot(out);
                if (threw ? now != old : now != replacement) {
                    ++failed;
                    print_error("step %d: the checkpoint is neither the old nor the new one\n", at);
                }
                if (!threw) {  // the run completed: put the old checkpoint back
                    e2e::remove_tree(out);
                    run_rtn(fx, out, 4);
                }
            } else if (!threw) {
                e2e::remove_tree(fresh);
            }
        }
    }
    assert_int_equal(failed, 0);
}

// A full disk (ENOSPC injected on the k-th write, k = 0: a shard header, later: tensors and
// config.json): the message says what happened in the user's terms (the output directory
// asked for and the file, not the hidden staging path), and nothing is left behind: no new
// directory, an existing checkpoint unchanged.
void test_disk_full_message(void **) {
    Fixture fx;
    const std::string out = join_path(fx.root, "out");
    run_rtn(fx, out, 4);
    const auto old = snapshot(out);
    for (int at : {0, 3, 40}) {
        for (int existing = 0; existing < 2; ++existing) {
            const std::string target = existing ? out : join_path(fx.root, "fresh");
            int writes = 0;
            checkpoint_io_hook = [&](const char *step) {
                if (std::strcmp(step, "write") == 0 && writes++ == at) throw InjectedIoError{ENOSPC};
            };
            std::string msg;
            try {
                run_rtn(fx, target, 3);
            } catch (const Error &e) {
                msg = e.what();
                assert_int_equal(e.status(), GPTQ_ERR_IO);
            }
            checkpoint_io_hook = nullptr;
            print_message("%s\n", msg.c_str());
            assert_non_null(std::strstr(msg.c_str(), "no space left on device while writing "));
            assert_non_null(std::strstr(msg.c_str(), (" for " + target + ": ").c_str()));
            assert_null(std::strstr(msg.c_str(), ".tmp-"));
            assert_true(list_dir(fx.root) == (std::vector<std::string>{"out", "src"}));
            assert_true(snapshot(out) == old);
        }
    }
}

void test_sigint_removes_staging(void **) {
    Fixture fx;
    const std::string out = join_path(fx.root, "out");
    run_rtn(fx, out, 4);
    const auto old = snapshot(out);
    for (int at : {1, 5, 20}) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            FaultAt f;
            checkpoint_io_hook = [&](const char *) {
                if (f.count++ == at) ::raise(SIGINT);
            };
            try {
                run_rtn(fx, out, 3);
            } catch (...) {
            }
            ::_exit(0);  // SIGINT should have ended the process before this
        }
        int status = 0;
        assert_int_equal(::waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
        assert_true(list_dir(fx.root) == (std::vector<std::string>{"out", "src"}));
        assert_true(snapshot(out) == old);
    }
}

// --layers A:B: only blocks [A, B) are quantized; the others are written as they were stored.
void test_layer_range(void **) {
    Fixture fx;
    const std::string out = join_path(fx.root, "out");
    Model m = fx.load(true);
    QuantizeOptions o = gptq_options(4);
    o.first_layer = 1;
    o.last_layer = 2;
    const StreamResult r = quantize_to_checkpoint(m, e2e::shared_ctx(), fx.calib, o, out, SaveOptions());
    assert_int_equal(r.records.size(), kNumModules);
    for (const LayerRecord &rec : r.records) assert_int_equal(rec.layer, 1);
    const Model back = load_hf(out, e2e::shared_ctx());
    for (int l = 0; l < kLayers; ++l)
        for (const Linear &lin : back.blocks[size_t(l)].lin) assert_true(lin.quantized() == (l == 1));
    const auto src = checkpoint_tensors(fx.src), got = checkpoint_tensors(out);
    for (const char *name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.2.mlp.down_proj.weight",
                             "model.embed_tokens.weight", "lm_head.weight"})
        assert_true(src.at(name) == got.at(name));
    assert_true(got.count("model.layers.1.mlp.down_proj.qweight") == 1);
}

// --act-dtype bf16: activations rounded between blocks. The layers see slightly different
// inputs, so the result is close to (not equal to) the fp32 run: same rel. error to 10 %.
void test_bf16_activations(void **) {
    Fixture fx;
    Model a = fx.load(true), b = fx.load(true);
    QuantizeOptions o = gptq_options(4);
    const auto ra = quantize_model(a, e2e::shared_ctx(), fx.calib, o);
    o.act_dtype = GPTQ_DTYPE_BF16;
    const auto rb = quantize_model(b, e2e::shared_ctx(), fx.calib, o);
    assert_int_equal(ra.size(), rb.size());
    bool any_differs = false;
    for (size_t i = 0; i < ra.size(); ++i) {
        assert_true(std::fabs(rb[i].rel_error - ra[i].rel_error) <= 0.1 * ra[i].rel_error);
        any_differs |= rb[i].rel_error != ra[i].rel_error;
    }
    assert_true(any_differs);  // the option is not ignored
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_equals_whole_write),
        cmocka_unit_test(test_failure_at_every_step),
        cmocka_unit_test(test_disk_full_message),
        cmocka_unit_test(test_sigint_removes_staging),
        cmocka_unit_test(test_layer_range),
        cmocka_unit_test(test_bf16_activations),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
