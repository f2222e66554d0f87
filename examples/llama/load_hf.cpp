#include "error.h"
#include "file_io.h"
#include "gptq_layout.h"
#include "loaders.h"
#include "safetensors.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>

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

// An integer in [lo, hi]: out-of-range values are refused, never truncated.
int64_t get_int(const json &j, const char *key, int64_t def, bool required, const std::string &src,
                int64_t lo = INT32_MIN, int64_t hi = INT32_MAX) {
    if (!j.contains(key) || j[key].is_null()) {
        if (required) fail(GPTQ_ERR_FORMAT, "%s: missing '%s'", src.c_str(), key);
        return def;
    }
    const json &v = j[key];
    if (!v.is_number_integer())
        fail(GPTQ_ERR_FORMAT, "%s: '%s' is not an integer", src.c_str(), key);
    // An unsigned value above INT64_MAX must not wrap to a negative one.
    const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi);
    if (too_big || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
        fail(GPTQ_ERR_FORMAT, "%s: '%s' = %s is outside [%lld, %lld]", src.c_str(), key,
             v.dump().c_str(), (long long)lo, (long long)hi);
    return v.get<int64_t>();
}

// A finite number in [lo, hi].
double get_num(const json &j, const char *key, double def, const std::string &src,
               double lo = -1e300, double hi = 1e300) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number()) fail(GPTQ_ERR_FORMAT, "%s: '%s' is not a number", src.c_str(), key);
    const double v = j[key].get<double>();
    if (!std::isfinite(v) || v < lo || v > hi)
        fail(GPTQ_ERR_FORMAT, "%s: '%s' = %g is outside the plausible range [%g, %g]", src.c_str(),
             key, v, lo, hi);
    return v;
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
    // Returns the tensor and marks it used.
    const TensorInfo &get(const std::string &name) const {
        const TensorInfo *t = find(name);
        if (!t) fail(GPTQ_ERR_FORMAT, "checkpoint has no tensor '%s'", name.c_str());
        used_.insert(name);
        return *t;
    }
    // The first tensor no get() asked for, other than those `ignorable` accepts; "" if none.
    std::string first_unused(const std::function<bool(const std::string &)> &ignorable) const {
        for (const auto &kv : by_name_)
            if (!used_.count(kv.first) && !ignorable(kv.first)) return kv.first;
        return "";
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
    mutable std::set<std::string> used_;
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

// A floating-point weight into lin (already shaped): a view when lazy and possible, else fp32.
void read_weight(const TensorSet &ts, const std::string &name, bool lazy, Linear &lin) {
    const std::vector<int64_t> shape{lin.n(), lin.k()};
    if (!lazy || !view_linear(ts, name, shape, lin)) read_vector(ts, name, lin.weight(), shape);
}

QuantConfig read_quant_config(const json &q, const std::string &src) {
    QuantConfig qc;
    qc.quantized = true;
    const std::string method = get_str(q, "quant_method", "gptq", src);
    if (method != "gptq")
        fail(GPTQ_ERR_UNSUPPORTED, "%s: quant_method '%s' is not supported (only gptq)",
             src.c_str(), method.c_str());
    qc.bits = int(get_int(q, "bits", 4, true, src, 1, 64));
    qc.group_size = int(get_int(q, "group_size", 128, false, src, -1, INT32_MAX));
    qc.desc_act = get_bool(q, "desc_act", false, src);
    qc.sym = get_bool(q, "sym", true, src);
    qc.static_groups = get_bool(q, "static_groups", false, src);
    qc.true_sequential = get_bool(q, "true_sequential", true, src);
    qc.damp_percent = float(get_num(q, "damp_percent", 0.01, src, 0.0, 1e6));
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

// A symmetric layer has one zero point, 2^(b-1); v1 ("gptq") stores it minus one, v2
// ("gptq_v2") as is. A checkpoint whose format was mislabelled loads with every zero off by
// one and evaluates to noise, so each stored zero of a symmetric layer must be the declared
// format's value. Asymmetric layers get no such check: every stored value is a valid zero in
// both formats (v1 even stores a true zero of 0 as 2^b - 1), so no test on the values can
// tell the formats apart without refusing some valid file.
void check_sym_zeros(const std::vector<int32_t> &qzeros, int64_t groups, int64_t n,
                     const QuantConfig &qc, const std::string &name, const std::string &src) {
    const uint32_t v2 = 1u << (qc.bits - 1), v1 = v2 - 1;
    const bool is_v1 = qc.zeros_format == GPTQ_ZEROS_V1;
    const uint32_t want = is_v1 ? v1 : v2;
    const int64_t words = packed_len(n, qc.bits);
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t c = 0; c < n; ++c) {
            const uint32_t got = packed_code(qzeros.data() + g * words, c, qc.bits);
            if (got == want) continue;
            const char *declared = is_v1 ? "gptq" : "gptq_v2";
            const std::string hint =
                got == (is_v1 ? v2 : v1)
                    ? std::string(": the value of checkpoint_format '") +
                          (is_v1 ? "gptq_v2" : "gptq") + "', so the declared format is wrong"
                    : "";
            fail(GPTQ_ERR_FORMAT,
                 "%s declares checkpoint_format '%s' with symmetric %d-bit layers, whose "
                 "zero points are stored as %u, but layer '%s' stores %u (group %lld, column "
                 "%lld)%s; refusing the inconsistent checkpoint",
                 src.c_str(), declared, qc.bits, want, name.c_str(), got, (long long)g,
                 (long long)c, hint.c_str());
        }
}

void read_quantized(const TensorSet &ts, const std::string &name, const QuantConfig &qc,
                    const std::string &quant_src, gptq_ctx *ctx, Linear &lin) {
    if (!ctx) fail(GPTQ_ERR_INVALID_ARGUMENT, "loading a quantized checkpoint needs a gptq context");
    const int64_t n = lin.n(), k = lin.k();
    const int64_t groups = group_count(k, qc.group_size);
    const TensorInfo &tw = ts.get(name + ".qweight");
    const TensorInfo &tz = ts.get(name + ".qzeros");
    const TensorInfo &ts_ = ts.get(name + ".scales");
    expect_shape(tw, {packed_len(k, qc.bits), n});
    expect_shape(tz, {groups, packed_len(n, qc.bits)});
    expect_shape(ts_, {groups, n});
    const std::vector<int32_t> qweight = tensor_to_i32(tw), qzeros = tensor_to_i32(tz);
    if (qc.sym) check_sym_zeros(qzeros, groups, n, qc, name, quant_src);
    std::vector<int32_t> g_idx;
    if (ts.find(name + ".g_idx")) {
        const TensorInfo *tg = &ts.get(name + ".g_idx");
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

namespace {

// The rope_scaling object: none / "default", or Llama 3's; any other kind is refused by name.
RopeScaling read_rope_scaling(const json &j, const std::string &src) {
    RopeScaling r;
    if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return r;
    const json &s = j["rope_scaling"];
    if (!s.is_object()) fail(GPTQ_ERR_FORMAT, "%s: rope_scaling is not an object", src.c_str());
    const std::string where = src + " rope_scaling";
    // Older configs name the kind "type".
    const std::string type = get_str(s, "rope_type", get_str(s, "type", "default", where), where);
    if (type == "default") return r;
    if (type != "llama3")
        fail(GPTQ_ERR_UNSUPPORTED, "%s: rope_type '%s' is not supported (default or llama3)",
             where.c_str(), type.c_str());
    r.llama3 = true;
    r.factor = get_num(s, "factor", 8.0, where, 1.0, 1e4);
    r.low_freq_factor = get_num(s, "low_freq_factor", 1.0, where, 1e-6, 1e6);
    r.high_freq_factor = get_num(s, "high_freq_factor", 4.0, where, 1e-6, 1e6);
    r.original_max_positions =
        get_int(s, "original_max_position_embeddings", 8192, false, where, 1, 1 << 24);
    if (!(r.high_freq_factor > r.low_freq_factor))
        fail(GPTQ_ERR_FORMAT, "%s: high_freq_factor must exceed low_freq_factor", where.c_str());
    return r;
}

// Reads the architecture: which model_type, which modules carry a bias, Qwen3's q/k norms,
// the attention window. Anything the forward does not compute exactly is refused.
std::array<bool, kNumModules> read_architecture(const json &j, const std::string &src, Config &c) {
    const std::string type = get_str(j, "model_type", "llama", src);
    if (type != "llama" && type != "mistral" && type != "qwen2" && type != "qwen3")
        fail(GPTQ_ERR_UNSUPPORTED,
             "%s: model_type '%s' is not supported (llama, mistral, qwen2 or qwen3)", src.c_str(),
             type.c_str());
    if (get_str(j, "hidden_act", "silu", src) != "silu")
        fail(GPTQ_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (only silu)", src.c_str(),
             get_str(j, "hidden_act", "", src).c_str());
    c.rope_scaling = read_rope_scaling(j, src);
    std::array<bool, kNumModules> bias{};
    if (type == "qwen2") {
        bias[kQ] = bias[kK] = bias[kV] = true;  // Qwen2 always has q/k/v biases
    } else if (get_bool(j, "attention_bias", false, src)) {
        bias[kQ] = bias[kK] = bias[kV] = bias[kO] = true;
    }
    if (type != "qwen2" && type != "qwen3" && get_bool(j, "mlp_bias", false, src))
        bias[kGate] = bias[kUp] = bias[kDown] = true;
    c.qk_norm = type == "qwen3";
    // Mistral states its window directly; Qwen only uses it when use_sliding_window is set.
    const bool windowed = type == "mistral" || get_bool(j, "use_sliding_window", false, src);
    c.sliding_window = windowed ? get_int(j, "sliding_window", 0, false, src, 0, INT32_MAX) : 0;
    return bias;
}

} // namespace

Model load_hf(const std::string &dir, gptq_ctx *ctx, bool lazy) {
    const std::string cfg_path = join_path(dir, "config.json");
    const json j = read_json(cfg_path);
    const std::string &src = cfg_path;
    Model m;
    m.hf_config = j;
    Config &c = m.cfg;
    const std::array<bool, kNumModules> biased = read_architecture(j, src, c);
    const int64_t kMax = INT32_MAX;
    c.dim = get_int(j, "hidden_size", 0, true, src, 1, kMax);
    c.hidden_dim = get_int(j, "intermediate_size", 0, true, src, 1, kMax);
    c.n_layers = get_int(j, "num_hidden_layers", 0, true, src, 1, kMax);
    c.n_heads = get_int(j, "num_attention_heads", 0, true, src, 1, kMax);
    c.n_kv_heads = get_int(j, "num_key_value_heads", c.n_heads, false, src, 1, kMax);
    c.vocab_size = get_int(j, "vocab_size", 0, true, src, 1, kMax);
    c.seq_len = get_int(j, "max_position_embeddings", 2048, false, src, 1, kMax);
    c.head_dim = get_int(j, "head_dim", c.dim / c.n_heads, false, src, 1, kMax);
    c.norm_eps = float(get_num(j, "rms_norm_eps", 1e-6, src, 1e-12, 0.1));
    c.rope_theta = float(get_num(j, "rope_theta", 10000.0, src, 1.0, 1e10));
    c.tied_embeddings = get_bool(j, "tie_word_embeddings", false, src);
    c.bos_id = int32_t(get_int(j, "bos_token_id", 1, false, src, 0, kMax));
    // Llama 3 lists several end tokens; the first is the one a plain completion ends with.
    if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty())
        c.eos_id = int32_t(get_int(json{{"eos", j["eos_token_id"][0]}}, "eos", 2, false, src, 0, kMax));
    else
        c.eos_id = int32_t(get_int(j, "eos_token_id", 2, false, src, 0, kMax));
    c.rope = RopeStyle::Halves;
    validate_config(c, src);

    std::string quant_src;  // where the quantization settings were read from
    if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
        quant_src = src + " quantization_config";
        m.quant = read_quant_config(j["quantization_config"], quant_src);
    } else if (file_exists(join_path(dir, "quantize_config.json"))) {
        quant_src = join_path(dir, "quantize_config.json");
        m.quant = read_quant_config(read_json(quant_src), quant_src);
    }

    auto storage = std::make_shared<TensorSet>(dir);
    const TensorSet &ts = *storage;
    if (lazy) m.storage = storage;
    const int64_t D = c.dim, V = c.vocab_size;
    m.source_dtype = ts.get("model.embed_tokens.weight").dtype;
    // Lazily, the tables stay views in their stored dtype: lookups widen single rows and the
    // classifier's dense layer is made from the stored tensor, never from an fp32 copy.
    m.embed = Linear(V, D);
    read_weight(ts, "model.embed_tokens.weight", lazy, m.embed);
    read_vector(ts, "model.norm.weight", m.final_norm, {D});
    if (!c.tied_embeddings) {
        m.lm_head = Linear(V, D);
        read_weight(ts, "lm_head.weight", lazy, m.lm_head);
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
        if (c.qk_norm) {
            read_vector(ts, pre + "self_attn.q_norm.weight", b.q_norm, {c.head_dim});
            read_vector(ts, pre + "self_attn.k_norm.weight", b.k_norm, {c.head_dim});
        }
        for (int mod = 0; mod < kNumModules; ++mod) {
            const std::string name = module_hf_name(l, mod);
            b.lin[size_t(mod)] = Linear(shapes[mod][0], shapes[mod][1]);
            if (m.quant.quantized && ts.find(name + ".qweight")) {
                read_quantized(ts, name, m.quant, quant_src, ctx, b.lin[size_t(mod)]);
            } else {
                read_weight(ts, name + ".weight", lazy, b.lin[size_t(mod)]);
            }
            std::vector<float> &bias = b.bias[size_t(mod)];
            if (biased[size_t(mod)] || ts.find(name + ".bias"))
                read_vector(ts, name + ".bias", bias, {shapes[mod][0]});
            // AutoGPTQ stores an all-zero bias for every quantized layer: harmless. Any other
            // bias the architecture does not have means config.json describes another model.
            if (!biased[size_t(mod)] && !bias.empty()) {
                for (float v : bias)
                    if (v != 0.0f)
                        fail(GPTQ_ERR_FORMAT, "'%s' has a bias that %s does not declare",
                             name.c_str(), src.c_str());
                bias.clear();
            }
        }
    }
    // A tensor nothing reads means a different architecture than config.json declares
    // (e.g. Qwen3's q_norm under model_type llama): refused rather than silently ignored.
    const std::string unused = ts.first_unused([&](const std::string &t) {
        return (t == "lm_head.weight" && c.tied_embeddings) ||
               t.find("rotary_emb.inv_freq") != std::string::npos;
    });
    if (!unused.empty())
        fail(GPTQ_ERR_FORMAT, "%s: tensor '%s' is not used by model_type '%s'", dir.c_str(),
             unused.c_str(), get_str(j, "model_type", "llama", src).c_str());
    return m;
}

Model load_model(const std::string &path, gptq_ctx *ctx, bool lazy) {
    if (is_directory(path)) return load_hf(path, ctx, lazy);
    return load_llama2c(path);
}

} // namespace llama
