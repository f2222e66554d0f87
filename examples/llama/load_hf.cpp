#include "error.h"
#include "file_io.h"
#include "gptq_layout.h"
#include "loaders.h"
#include "safetensors.h"

#include <memory>

namespace llama {

using nlohmann::json;

namespace {

json read_json(const std::string &path) {
    const std::string text = read_text_file(path);
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        fail(GPTQ_ERR_FORMAT, "%s: not a JSON object", path.c_str());
    return j;
}

int64_t get_int(const json &j, const char *key, int64_t def, bool required, const std::string &src) {
    if (!j.contains(key) || j[key].is_null()) {
        if (required) fail(GPTQ_ERR_FORMAT, "%s: missing '%s'", src.c_str(), key);
        return def;
    }
    if (!j[key].is_number_integer())
        fail(GPTQ_ERR_FORMAT, "%s: '%s' is not an integer", src.c_str(), key);
    return j[key].get<int64_t>();
}

double get_num(const json &j, const char *key, double def, const std::string &src) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number()) fail(GPTQ_ERR_FORMAT, "%s: '%s' is not a number", src.c_str(), key);
    return j[key].get<double>();
}

bool get_bool(const json &j, const char *key, bool def, const std::string &src) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) fail(GPTQ_ERR_FORMAT, "%s: '%s' is not a boolean", src.c_str(), key);
    return j[key].get<bool>();
}

std::string get_str(const json &j, const char *key, const std::string &def, const std::string &src) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_string()) fail(GPTQ_ERR_FORMAT, "%s: '%s' is not a string", src.c_str(), key);
    return j[key].get<std::string>();
}

// All tensors of a checkpoint, from one file or from the shards of an index.
class TensorSet {
public:
    explicit TensorSet(const std::string &dir) {
        const std::string single = join_path(dir, "model.safetensors");
        const std::string index = join_path(dir, "model.safetensors.index.json");
        if (file_exists(single)) {
            add(single);
        } else if (file_exists(index)) {
            const json j = read_json(index);
            if (!j.contains("weight_map") || !j["weight_map"].is_object())
                fail(GPTQ_ERR_FORMAT, "%s: no weight_map", index.c_str());
            std::map<std::string, bool> shards;
            for (const auto &kv : j["weight_map"].items()) {
                if (!kv.value().is_string())
                    fail(GPTQ_ERR_FORMAT, "%s: weight_map values must be file names", index.c_str());
                const std::string f = kv.value().get<std::string>();
                if (f.find('/') != std::string::npos || f == ".." || f.empty())
                    fail(GPTQ_ERR_FORMAT, "%s: shard name '%s' leaves the directory", index.c_str(),
                         f.c_str());
                shards[f] = true;
            }
            for (const auto &s : shards) add(join_path(dir, s.first));
        } else {
            fail(GPTQ_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir.c_str());
        }
    }
    const TensorInfo *find(const std::string &name) const {
        auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : it->second;
    }
    const TensorInfo &get(const std::string &name) const {
        const TensorInfo *t = find(name);
        if (!t) fail(GPTQ_ERR_FORMAT, "checkpoint has no tensor '%s'", name.c_str());
        return *t;
    }

private:
    void add(const std::string &path) {
        files_.emplace_back(new SafeTensorsFile(path));
        for (const auto &kv : files_.back()->tensors()) {
            if (!by_name_.emplace(kv.first, &kv.second).second)
                fail(GPTQ_ERR_FORMAT, "%s: tensor '%s' appears in two shards", path.c_str(),
                     kv.first.c_str());
        }
    }
    std::vector<std::unique_ptr<SafeTensorsFile>> files_;
    std::map<std::string, const TensorInfo *> by_name_;
};

void read_vector(const TensorSet &ts, const std::string &name, std::vector<float> &dst,
                 const std::vector<int64_t> &shape) {
    const TensorInfo &t = ts.get(name);
    expect_shape(t, shape);
    dst = tensor_to_f32(t);
}

// Points lin at the stored tensor instead of copying it (lazy loading). False when the tensor
// is not a float type or not aligned for its element type; it is then read as fp32.
bool view_linear(const TensorSet &ts, const std::string &name, const std::vector<int64_t> &shape,
                 Linear &lin) {
    const TensorInfo &t = ts.get(name);
    expect_shape(t, shape);
    const gptq_dtype d = t.dtype == "F32"   ? GPTQ_DTYPE_F32
                         : t.dtype == "F16" ? GPTQ_DTYPE_F16
                         : t.dtype == "BF16" ? GPTQ_DTYPE_BF16
                                             : gptq_dtype(-1);
    if (int(d) < 0 || reinterpret_cast<uintptr_t>(t.data) % t.elem_size != 0) return false;
    lin.set_source(t.data, d);
    return true;
}

QuantConfig read_quant_config(const json &q, const std::string &src) {
    QuantConfig qc;
    qc.quantized = true;
    const std::string method = get_str(q, "quant_method", "gptq", src);
    if (method != "gptq")
        fail(GPTQ_ERR_UNSUPPORTED, "%s: quant_method '%s' is not supported (only gptq)",
             src.c_str(), method.c_str());
    qc.bits = int(get_int(q, "bits", 4, true, src));
    qc.group_size = int(get_int(q, "group_size", 128, false, src));
    qc.desc_act = get_bool(q, "desc_act", false, src);
    qc.sym = get_bool(q, "sym", true, src);
    qc.static_groups = get_bool(q, "static_groups", false, src);
    qc.true_sequential = get_bool(q, "true_sequential", true, src);
    qc.damp_percent = float(get_num(q, "damp_percent", 0.01, src));
    // Tools that predate gptq_v2 write no checkpoint_format: their files are v1.
    const std::string fmt = get_str(q, "checkpoint_format", "gptq", src);
    if (fmt == "gptq") qc.zeros_format = GPTQ_ZEROS_V1;
    else if (fmt == "gptq_v2") qc.zeros_format = GPTQ_ZEROS_V2;
    else fail(GPTQ_ERR_UNSUPPORTED, "%s: checkpoint_format '%s' is not supported", src.c_str(), fmt.c_str());
    if (!supported_bits(qc.bits))
        fail(GPTQ_ERR_UNSUPPORTED, "%s: %d-bit weights are not supported", src.c_str(), qc.bits);
    if (qc.group_size == 0 || qc.group_size < -1)
        fail(GPTQ_ERR_FORMAT, "%s: bad group_size %d", src.c_str(), qc.group_size);
    return qc;
}

void read_quantized(const TensorSet &ts, const std::string &name, const QuantConfig &qc,
                    gptq_ctx *ctx, Linear &lin) {
    if (!ctx) fail(GPTQ_ERR_INVALID_ARGUMENT, "loading a quantized checkpoint needs a gptq context");
    if (ts.find(name + ".bias")) fail(GPTQ_ERR_UNSUPPORTED, "'%s' has a bias; not supported", name.c_str());
    const int64_t n = lin.n(), k = lin.k();
    const int64_t groups = group_count(k, qc.group_size);
    const TensorInfo &tw = ts.get(name + ".qweight");
    const TensorInfo &tz = ts.get(name + ".qzeros");
    const TensorInfo &ts_ = ts.get(name + ".scales");
    expect_shape(tw, {packed_len(k, qc.bits), n});
    expect_shape(tz, {groups, packed_len(n, qc.bits)});
    expect_shape(ts_, {groups, n});
    const std::vector<int32_t> qweight = tensor_to_i32(tw), qzeros = tensor_to_i32(tz);
    std::vector<int32_t> g_idx;
    if (const TensorInfo *tg = ts.find(name + ".g_idx")) {
        expect_shape(*tg, {k});
        g_idx = tensor_to_i32(*tg);
    }
    std::vector<uint16_t> scales_f16;
    std::vector<float> scales_f32;
    gptq_packed_layer p{};
    p.struct_size = sizeof p;
    p.n = n;
    p.k = k;
    p.bits = qc.bits;
    p.group_size = qc.group_size;
    p.sym = qc.sym;
    p.desc_act = qc.desc_act;
    p.zeros_format = qc.zeros_format;
    p.qweight = qweight.data();
    p.qzeros = qzeros.data();
    if (ts_.dtype == "F16") {
        scales_f16 = tensor_to_f16_bits(ts_);
        p.scales = scales_f16.data();
        p.scales_dtype = GPTQ_DTYPE_F16;
    } else {
        scales_f32 = tensor_to_f32(ts_);
        p.scales = reinterpret_cast<const uint16_t *>(scales_f32.data());
        p.scales_dtype = GPTQ_DTYPE_F32;
    }
    p.g_idx = g_idx.empty() ? nullptr : g_idx.data();
    gptq_qlayer *q = nullptr;
    const gptq_status st = gptq_qlayer_from_packed(ctx, &p, &q);
    if (st != GPTQ_OK)
        fail(st, "layer '%s': %s", name.c_str(), gptq_last_error(ctx));
    lin.set_qlayer(q);
}

} // namespace

Model load_hf(const std::string &dir, gptq_ctx *ctx, bool lazy) {
    const std::string cfg_path = join_path(dir, "config.json");
    const json j = read_json(cfg_path);
    const std::string &src = cfg_path;
    Model m;
    m.hf_config = j;
    Config &c = m.cfg;
    const std::string type = get_str(j, "model_type", "llama", src);
    if (type != "llama" && type != "mistral")
        fail(GPTQ_ERR_UNSUPPORTED, "%s: model_type '%s' is not a Llama-family model", src.c_str(),
             type.c_str());
    if (get_str(j, "hidden_act", "silu", src) != "silu")
        fail(GPTQ_ERR_UNSUPPORTED, "%s: only hidden_act silu is supported", src.c_str());
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
        fail(GPTQ_ERR_UNSUPPORTED, "%s: rope_scaling is not supported", src.c_str());
    if (get_bool(j, "attention_bias", false, src) || get_bool(j, "mlp_bias", false, src))
        fail(GPTQ_ERR_UNSUPPORTED, "%s: biases are not supported", src.c_str());
    c.dim = get_int(j, "hidden_size", 0, true, src);
    c.hidden_dim = get_int(j, "intermediate_size", 0, true, src);
    c.n_layers = get_int(j, "num_hidden_layers", 0, true, src);
    c.n_heads = get_int(j, "num_attention_heads", 0, true, src);
    c.n_kv_heads = get_int(j, "num_key_value_heads", c.n_heads, false, src);
    c.vocab_size = get_int(j, "vocab_size", 0, true, src);
    c.seq_len = get_int(j, "max_position_embeddings", 2048, false, src);
    c.head_dim = get_int(j, "head_dim", c.n_heads > 0 ? c.dim / c.n_heads : 0, false, src);
    c.norm_eps = float(get_num(j, "rms_norm_eps", 1e-6, src));
    c.rope_theta = float(get_num(j, "rope_theta", 10000.0, src));
    c.tied_embeddings = get_bool(j, "tie_word_embeddings", false, src);
    c.bos_id = int32_t(get_int(j, "bos_token_id", 1, false, src));
    c.eos_id = j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()
                   ? j["eos_token_id"].get<int32_t>() : 2;
    c.rope = RopeStyle::Halves;
    validate_config(c, src);

    if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
        m.quant = read_quant_config(j["quantization_config"], src + " quantization_config");
    } else if (file_exists(join_path(dir, "quantize_config.json"))) {
        const std::string qp = join_path(dir, "quantize_config.json");
        m.quant = read_quant_config(read_json(qp), qp);
    }

    auto storage = std::make_shared<TensorSet>(dir);
    const TensorSet &ts = *storage;
    if (lazy) m.storage = storage;
    const int64_t D = c.dim, V = c.vocab_size;
    m.source_dtype = ts.get("model.embed_tokens.weight").dtype;
    read_vector(ts, "model.embed_tokens.weight", m.embed, {V, D});
    read_vector(ts, "model.norm.weight", m.final_norm, {D});
    if (!c.tied_embeddings) read_vector(ts, "lm_head.weight", m.lm_head, {V, D});
    if (lazy) {  // now held in fp32: the mapped copies need not stay resident
        release_pages(ts.get("model.embed_tokens.weight").data, ts.get("model.embed_tokens.weight").nbytes);
        if (!c.tied_embeddings)
            release_pages(ts.get("lm_head.weight").data, ts.get("lm_head.weight").nbytes);
    }
    m.blocks.resize(size_t(c.n_layers));
    const int64_t shapes[kNumModules][2] = {
        {c.q_dim(), D}, {c.kv_dim(), D}, {c.kv_dim(), D}, {D, c.q_dim()},
        {c.hidden_dim, D}, {c.hidden_dim, D}, {D, c.hidden_dim}};
    for (int l = 0; l < int(c.n_layers); ++l) {
        Block &b = m.blocks[size_t(l)];
        const std::string pre = "model.layers." + std::to_string(l) + ".";
        read_vector(ts, pre + "input_layernorm.weight", b.attn_norm, {D});
        read_vector(ts, pre + "post_attention_layernorm.weight", b.ffn_norm, {D});
        for (int mod = 0; mod < kNumModules; ++mod) {
            const std::string name = module_hf_name(l, mod);
            b.lin[size_t(mod)] = Linear(shapes[mod][0], shapes[mod][1]);
            if (m.quant.quantized && ts.find(name + ".qweight")) {
                read_quantized(ts, name, m.quant, ctx, b.lin[size_t(mod)]);
            } else {
                if (ts.find(name + ".bias"))
                    fail(GPTQ_ERR_UNSUPPORTED, "'%s' has a bias; not supported", name.c_str());
                const std::vector<int64_t> shape{shapes[mod][0], shapes[mod][1]};
                if (!lazy || !view_linear(ts, name + ".weight", shape, b.lin[size_t(mod)]))
                    read_vector(ts, name + ".weight", b.lin[size_t(mod)].weight(), shape);
            }
        }
    }
    return m;
}

Model load_model(const std::string &path, gptq_ctx *ctx, bool lazy) {
    if (is_directory(path)) return load_hf(path, ctx, lazy);
    return load_llama2c(path);
}

} // namespace llama
