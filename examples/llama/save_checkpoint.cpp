#include "checkpoint.h"

#include "error.h"
#include "file_io.h"
#include "safetensors.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace llama {

using nlohmann::json;

namespace {

std::string normalize_dtype(const std::string &requested, const std::string &source) {
    std::string d = requested == "auto" ? source : requested;
    for (char &ch : d) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    if (d == "FP32" || d == "FLOAT32") d = "F32";
    if (d == "FP16" || d == "FLOAT16") d = "F16";
    if (d != "F32" && d != "F16" && d != "BF16")
        fail(GPTQ_ERR_INVALID_ARGUMENT, "unsupported dtype '%s' (f32, f16, bf16 or auto)",
             requested.c_str());
    return d;
}

const char *torch_dtype(const std::string &d) {
    return d == "F32" ? "float32" : d == "F16" ? "float16" : "bfloat16";
}

void add_float(SafeTensorsWriter &w, const std::string &name, const std::vector<int64_t> &shape,
               const float *data, const std::string &dtype) {
    if (dtype == "F32") w.add_f32(name, shape, data);
    else if (dtype == "F16") w.add_f16_from_f32(name, shape, data);
    else w.add_bf16_from_f32(name, shape, data);
}

// Short decimal for floats such as damp_percent (0.01f would print as 0.009999999776).
double tidy(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.7g", double(v));
    return std::strtod(buf, nullptr);
}

void add_quantized(SafeTensorsWriter &w, gptq_ctx *ctx, const std::string &name,
                   const Linear &lin, gptq_zeros_format fmt) {
    const gptq_qlayer *q = lin.qlayer();
    gptq_qlayer_info info{};
    info.struct_size = sizeof info;
    check(ctx, gptq_qlayer_get_info(q, &info), name.c_str());
    std::vector<int32_t> qweight(size_t(info.qweight_rows * info.qweight_cols));
    std::vector<int32_t> qzeros(size_t(info.qzeros_rows * info.qzeros_cols));
    std::vector<uint16_t> scales(size_t(info.scales_rows * info.scales_cols));
    std::vector<int32_t> g_idx(size_t(info.g_idx_len));
    const std::string what = "exporting " + name;
    check(ctx, gptq_qlayer_get_qweight(q, qweight.data(), qweight.size()), what.c_str());
    check(ctx, gptq_qlayer_get_qzeros(q, fmt, qzeros.data(), qzeros.size()), what.c_str());
    check(ctx, gptq_qlayer_get_scales_f16(q, scales.data(), scales.size()), what.c_str());
    check(ctx, gptq_qlayer_get_g_idx(q, g_idx.data(), g_idx.size()), what.c_str());
    w.add_i32(name + ".qweight", {info.qweight_rows, info.qweight_cols}, qweight.data());
    w.add_i32(name + ".qzeros", {info.qzeros_rows, info.qzeros_cols}, qzeros.data());
    w.add(name + ".scales", "F16", {info.scales_rows, info.scales_cols}, scales.data(),
          scales.size() * 2);
    w.add_i32(name + ".g_idx", {info.g_idx_len}, g_idx.data());
}

json config_json(const Model &m, const std::string &dtype) {
    const Config &c = m.cfg;
    json j = m.hf_config.is_object() ? m.hf_config : json::object();
    j.erase("quantization_config");
    if (!j.contains("architectures")) j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = j.value("model_type", std::string("llama"));
    j["hidden_size"] = c.dim;
    j["intermediate_size"] = c.hidden_dim;
    j["num_hidden_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_dim;
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.seq_len;
    j["rms_norm_eps"] = tidy(c.norm_eps);
    j["rope_theta"] = tidy(c.rope_theta);
    j["tie_word_embeddings"] = c.tied_embeddings;
    j["hidden_act"] = "silu";
    // Kept as the source wrote them (Llama 3 lists several end tokens).
    if (!j.contains("bos_token_id")) j["bos_token_id"] = c.bos_id;
    if (!j.contains("eos_token_id")) j["eos_token_id"] = c.eos_id;
    j["torch_dtype"] = torch_dtype(dtype);
    if (m.quant.quantized) j["quantization_config"] = quantize_config_json(m.quant);
    return j;
}

void write_text(const std::string &path, const std::string &text) {
    write_file_atomic(path, {{text.data(), text.size()}});
}

} // namespace

json quantize_config_json(const QuantConfig &q) {
    return json{{"bits", q.bits},
                {"group_size", q.group_size},
                {"desc_act", q.desc_act},
                {"sym", q.sym},
                {"damp_percent", tidy(q.damp_percent)},
                {"static_groups", q.static_groups},
                {"true_sequential", q.true_sequential},
                {"quant_method", "gptq"},
                {"checkpoint_format", q.zeros_format == GPTQ_ZEROS_V1 ? "gptq" : "gptq_v2"},
                {"meta", {{"quantizer", std::string("libgptq ") + gptq_version_string()},
                          {"method", q.method}}}};
}

void save_checkpoint(const Model &m, gptq_ctx *ctx, const std::string &dir,
                     const SaveOptions &opt) {
    const Config &c = m.cfg;
    if (c.rope != RopeStyle::Halves)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "model must be converted to the HF layout before saving");
    const std::string dtype = normalize_dtype(opt.dtype, m.source_dtype);
    make_directory(dir);

    SafeTensorsWriter w;
    add_float(w, "model.embed_tokens.weight", {c.vocab_size, c.dim}, m.embed.data(), dtype);
    for (int l = 0; l < int(c.n_layers); ++l) {
        const Block &b = m.blocks[size_t(l)];
        const std::string pre = "model.layers." + std::to_string(l) + ".";
        add_float(w, pre + "input_layernorm.weight", {c.dim}, b.attn_norm.data(), dtype);
        add_float(w, pre + "post_attention_layernorm.weight", {c.dim}, b.ffn_norm.data(), dtype);
        if (!b.q_norm.empty()) {
            add_float(w, pre + "self_attn.q_norm.weight", {c.head_dim}, b.q_norm.data(), dtype);
            add_float(w, pre + "self_attn.k_norm.weight", {c.head_dim}, b.k_norm.data(), dtype);
        }
        for (int mod = 0; mod < kNumModules; ++mod) {
            const Linear &lin = b.lin[size_t(mod)];
            const std::string name = module_hf_name(l, mod);
            if (lin.quantized()) {
                if (!m.quant.quantized)
                    fail(GPTQ_ERR_INTERNAL, "'%s' is quantized but the model has no quant config",
                         name.c_str());
                add_quantized(w, ctx, name, lin, m.quant.zeros_format);
            } else {
                add_float(w, name + ".weight", {lin.n(), lin.k()}, lin.weight().data(), dtype);
            }
            const std::vector<float> &bias = b.bias[size_t(mod)];
            if (!bias.empty()) add_float(w, name + ".bias", {lin.n()}, bias.data(), dtype);
        }
    }
    add_float(w, "model.norm.weight", {c.dim}, m.final_norm.data(), dtype);
    if (!c.tied_embeddings)
        add_float(w, "lm_head.weight", {c.vocab_size, c.dim}, m.lm_head.data(), dtype);
    w.set_metadata("format", "pt");
    w.write(join_path(dir, "model.safetensors"));

    write_text(join_path(dir, "config.json"), config_json(m, dtype).dump(2) + "\n");
    const std::string qc = join_path(dir, "quantize_config.json");
    if (m.quant.quantized) write_text(qc, quantize_config_json(m.quant).dump(2) + "\n");
    copy_model_dir_extras(opt.source_dir, dir);
    copy_tokenizer(opt.tokenizer_path, dir);
}

void copy_tokenizer(const std::string &path, const std::string &dir) {
    if (path.empty()) return;
    if (is_directory(path)) {
        copy_model_dir_extras(path, dir);
        return;
    }
    const bool hf = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
    if (hf) {
        // Its siblings (tokenizer_config.json: BOS/EOS settings) belong with it.
        const size_t slash = path.find_last_of('/');
        copy_model_dir_extras(slash == std::string::npos ? "." : path.substr(0, slash), dir);
    }
    const std::string bytes = read_text_file(path);
    write_file_atomic(join_path(dir, hf ? "tokenizer.json" : "tokenizer.bin"),
                      {{bytes.data(), bytes.size()}});
}

void copy_model_dir_extras(const std::string &from, const std::string &to) {
    if (from.empty() || !is_directory(from)) return;
    static const char *const kFiles[] = {"tokenizer.json",          "tokenizer_config.json",
                                         "tokenizer.model",         "special_tokens_map.json",
                                         "generation_config.json",  "tokenizer.bin"};
    for (const char *f : kFiles) {
        const std::string src = join_path(from, f);
        if (!file_exists(src)) continue;
        const std::string bytes = read_text_file(src);
        write_file_atomic(join_path(to, f), {{bytes.data(), bytes.size()}});
    }
}

} // namespace llama
