// Truncated, oversized and hostile inputs: every one must come back as a clear error
// (llama::Error with GPTQ_ERR_FORMAT), never a crash, hang or huge allocation. Run under
// ASan/UBSan in CI.
#include "e2e_common.h"

#include "checkpoint.h"
#include "convert.h"
#include "file_io.h"
#include "loaders.h"
#include "safetensors.h"
#include "llama2c_tokenizer.h"

#include <unistd.h>

#include <cstring>

using namespace llama;
using nlohmann::json;

namespace {

std::string u64le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char(v >> (8 * i));
    return s;
}

std::string st_file(const std::string &header, size_t data_bytes) {
    return u64le(header.size()) + header + std::string(data_bytes, '\0');
}

// Writes bytes as a .safetensors file, opens it, and returns the error message.
std::string st_error(const std::string &bytes) {
    const std::string dir = e2e::make_temp_dir();
    const std::string path = dir + "/x.safetensors";
    e2e::write_bytes(path, bytes);
    const std::string msg = e2e::expect_error([&] { SafeTensorsFile f(path); }, GPTQ_ERR_FORMAT);
    e2e::remove_tree(dir);
    return msg;
}

bool contains(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

void test_safetensors_valid_baseline(void **) {
    const std::string dir = e2e::make_temp_dir();
    const std::string path = dir + "/ok.safetensors";
    e2e::write_bytes(path, st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"F16","shape":[0,3],"data_offsets":[8,8]},)"
                                   R"("__metadata__":{"format":"pt"}})", 8));
    e2e::no_throw([&] {
        SafeTensorsFile f(path);
        assert_int_equal(f.get("a").numel, 2);
        assert_int_equal(f.get("b").numel, 0);
    });
    e2e::remove_tree(dir);
}

void test_safetensors_truncated(void **) {
    assert_true(contains(st_error(std::string("\x10\0\0", 3)), "truncated"));
    assert_true(contains(st_error(""), "truncated"));
    // Header length says 1000 but the file ends after 20 bytes.
    assert_true(contains(st_error(u64le(1000) + "{\"a\":1}"), "past the end"));
    // A valid file cut inside its data.
    const std::string full = st_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16);
    assert_true(contains(st_error(full.substr(0, full.size() - 5)), "outside"));
}

void test_safetensors_huge_header(void **) {
    assert_true(contains(st_error(u64le(1ull << 40) + "{}"), "limit"));
    assert_true(contains(st_error(u64le(~0ull) + "{}"), "limit"));
}

void test_safetensors_not_json(void **) {
    assert_true(contains(st_error(st_file("{not json", 0)), "JSON"));
    assert_true(contains(st_error(st_file("[1, 2, 3]", 0)), "object"));
    assert_true(contains(st_error(st_file(std::string(100000, '[') + std::string(100000, ']'), 0)), "deep"));
    assert_true(contains(st_error(st_file(std::string("{\"a\":\"\xff\xfe\"}"), 0)), "JSON"));
}

void test_safetensors_offsets(void **) {
    // Out of range, reversed, enormous, overlapping.
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]}})", 8));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[2]}})", 8));
}

void test_safetensors_dtype_shape(void **) {
    // Byte count does not match dtype x shape.
    assert_true(contains(st_error(st_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
                         "expected 12"));
    assert_true(contains(st_error(st_file(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16)),
                         "unknown dtype"));
    st_error(st_file(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4));
    // Element count that overflows 64 bits must not wrap around to a small size.
    assert_true(contains(st_error(st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", 0)),
                         "overflow"));
    st_error(st_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0));
    st_error(st_file(R"({"__metadata__":[1]})", 0));
}

void test_llama2c_bad(void **) {
    const std::string good = e2e::read_bytes(e2e::g_paths.model);
    const std::string dir = e2e::make_temp_dir();
    const std::string p = dir + "/m.bin";
    auto err = [&](const std::string &bytes) {
        e2e::write_bytes(p, bytes);
        return e2e::expect_error([&] { load_llama2c(p); }, GPTQ_ERR_FORMAT);
    };
    assert_true(contains(err(good.substr(0, good.size() - 4)), "truncated"));
    assert_true(contains(err(good + "xxxx"), "oversized"));
    assert_true(contains(err(good.substr(0, 12)), "too small"));
    auto with_header = [&](int idx, int32_t v) {
        std::string b = good;
        std::memcpy(&b[size_t(idx) * 4], &v, 4);
        return b;
    };
    err(with_header(2, 0));             // no layers
    err(with_header(4, 3));             // 8 heads over 3 kv heads
    err(with_header(3, 0));             // no heads
    err(with_header(0, 1 << 30));       // absurd dim: rejected before any allocation
    err(with_header(5, INT32_MIN));     // vocab size that cannot be negated
    err(with_header(6, -5));            // negative seq_len
    e2e::expect_error([&] { load_llama2c(dir + "/missing.bin"); }, GPTQ_ERR_IO);
    e2e::remove_tree(dir);
}

void test_tokenizer_bad(void **) {
    const std::string good = e2e::read_bytes(e2e::g_paths.tokenizer);
    const std::string dir = e2e::make_temp_dir();
    const std::string p = dir + "/t.bin";
    auto err = [&](const std::string &bytes, int64_t vocab) {
        e2e::write_bytes(p, bytes);
        return e2e::expect_error([&] { Llama2cTokenizer t(p, vocab); }, GPTQ_ERR_FORMAT);
    };
    err(good.substr(0, good.size() - 3), 512);
    err(good, 511);  // more tokens than the model has
    err(good, 600);
    std::string b = good;
    const int32_t huge = 1 << 30;
    std::memcpy(&b[4 + 4], &huge, 4);  // first token's length
    err(b, 512);
    e2e::remove_tree(dir);
}

// A valid HF directory (the converted stories260K model), then one corruption at a time,
// each expressed as an edit of the safetensors header or config.json.
struct HfDir {
    std::string dir;
    json header;
    std::string data;  // bytes after the header
    HfDir() {
        dir = e2e::make_temp_dir();
        Model m = load_llama2c(e2e::g_paths.model);
        to_hf_layout(m);
        save_checkpoint(m, e2e::shared_ctx(), dir, SaveOptions());
        const std::string bytes = e2e::read_bytes(dir + "/model.safetensors");
        uint64_t n = 0;
        std::memcpy(&n, bytes.data(), 8);
        header = json::parse(bytes.substr(8, size_t(n)));
        data = bytes.substr(8 + size_t(n));
    }
    ~HfDir() { e2e::remove_tree(dir); }
    void write(const json &h) const {
        const std::string t = h.dump();
        e2e::write_bytes(dir + "/model.safetensors", u64le(t.size()) + t + data);
    }
};

void test_hf_bad(void **) {
    HfDir d;
    gptq_ctx *ctx = e2e::shared_ctx();
    e2e::no_throw([&] { load_hf(d.dir, ctx); });
    const std::string q = "model.layers.1.self_attn.q_proj.weight";
    auto fmt = [&](const json &h) {
        d.write(h);
        return e2e::expect_error([&] { load_hf(d.dir, ctx); }, GPTQ_ERR_FORMAT);
    };
    {  // wrong dtype with the same byte count
        json h = d.header;
        h[q]["dtype"] = "I32";
        assert_true(contains(fmt(h), "dtype"));
    }
    {  // transposed shape: same bytes, wrong layout for the model
        json h = d.header;
        h["model.layers.0.mlp.down_proj.weight"]["shape"] = {172, 64};
        assert_true(contains(fmt(h), "shape"));
    }
    {  // missing tensor
        json h = d.header;
        h.erase("model.norm.weight");
        assert_true(contains(fmt(h), "model.norm.weight"));
    }
    {  // a quantized config with fp32 tensors present but no qweight is fine; a qweight of the
       // wrong shape is not
        json h = d.header;
        h["model.layers.0.self_attn.q_proj.qweight"] = {{"dtype", "I32"}, {"shape", {2, 2}},
                                                         {"data_offsets", {0, 16}}};
        d.write(h);
        json cfg = json::parse(read_text_file(d.dir + "/config.json"));
        cfg["quantization_config"] = {{"bits", 4}, {"group_size", 32}, {"quant_method", "gptq"}};
        e2e::write_bytes(d.dir + "/config.json", cfg.dump());
        e2e::expect_error([&] { load_hf(d.dir, ctx); }, GPTQ_ERR_FORMAT);
        cfg.erase("quantization_config");
        e2e::write_bytes(d.dir + "/config.json", cfg.dump());
    }
    d.write(d.header);
    e2e::no_throw([&] { load_hf(d.dir, ctx); });

    // config.json problems.
    const std::string good_cfg = read_text_file(d.dir + "/config.json");
    auto cfg_err = [&](const std::string &text, gptq_status st) {
        e2e::write_bytes(d.dir + "/config.json", text);
        return e2e::expect_error([&] { load_hf(d.dir, ctx); }, st);
    };
    cfg_err("{\"hidden_size\": 64,", GPTQ_ERR_FORMAT);
    json c = json::parse(good_cfg);
    c["hidden_size"] = "64";
    cfg_err(c.dump(), GPTQ_ERR_FORMAT);
    c = json::parse(good_cfg);
    c.erase("num_hidden_layers");
    cfg_err(c.dump(), GPTQ_ERR_FORMAT);
    c = json::parse(good_cfg);
    c["num_key_value_heads"] = 3;
    cfg_err(c.dump(), GPTQ_ERR_FORMAT);
    c = json::parse(good_cfg);
    c["hidden_size"] = 1LL << 40;
    cfg_err(c.dump(), GPTQ_ERR_FORMAT);
    c = json::parse(good_cfg);
    c["quantization_config"] = {{"bits", 5}, {"quant_method", "gptq"}};
    cfg_err(c.dump(), GPTQ_ERR_UNSUPPORTED);
    c = json::parse(good_cfg);
    c["quantization_config"] = {{"bits", 4}, {"quant_method", "awq"}};
    cfg_err(c.dump(), GPTQ_ERR_UNSUPPORTED);
    e2e::write_bytes(d.dir + "/config.json", good_cfg);

    // A shard index that points outside the directory.
    ::unlink((d.dir + "/model.safetensors").c_str());
    e2e::write_bytes(d.dir + "/model.safetensors.index.json",
                     R"({"weight_map": {"model.norm.weight": "../../etc/passwd"}})");
    e2e::expect_error([&] { load_hf(d.dir, ctx); }, GPTQ_ERR_FORMAT);
    d.write(d.header);  // restore for the destructor's cleanup to be uneventful
}

} // namespace

int main(int argc, char **argv) {
    if (!e2e::parse_args(argc, argv)) return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_valid_baseline),
        cmocka_unit_test(test_safetensors_truncated),
        cmocka_unit_test(test_safetensors_huge_header),
        cmocka_unit_test(test_safetensors_not_json),
        cmocka_unit_test(test_safetensors_offsets),
        cmocka_unit_test(test_safetensors_dtype_shape),
        cmocka_unit_test(test_llama2c_bad),
        cmocka_unit_test(test_tokenizer_bad),
        cmocka_unit_test(test_hf_bad),
    };
    const int rc = cmocka_run_group_tests(tests, nullptr, nullptr);
    e2e::destroy_shared_ctx();
    return rc;
}
