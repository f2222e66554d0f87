#include "checkpoint.h"

#include "checkpoint_writer.h"

#include "error.h"
#include "file_io.h"

#include <algorithm>
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

// Short decimal for floats such as damp_percent (0.01f would print as 0.009999999776).
double tidy(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.7g", double(v));
    return std::strtod(buf, nullptr);
}

void write_quantized(CheckpointWriter &w, gptq_ctx *ctx, const std::string &name,
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
    w.write(name + ".qweight", qweight.data(), qweight.size() * 4);
    w.write(name + ".qzeros", qzeros.data(), qzeros.size() * 4);
    w.write(name + ".scales", scales.data(), scales.size() * 2);
    w.write(name + ".g_idx", g_idx.data(), g_idx.size() * 4);
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

std::string checkpoint_dtype(const Model &m, const SaveOptions &opt) {
    return normalize_dtype(opt.dtype, m.source_dtype);
}

std::unique_ptr<CheckpointWriter> begin_checkpoint(const Model &m, const std::string &dir,
                                                   const SaveOptions &opt,
                                                   const QuantConfig *planned, int first,
                                                   int last) {
    if (m.cfg.rope != RopeStyle::Halves)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "model must be converted to the HF layout before saving");
    if (opt.max_shard_bytes == 0) fail(GPTQ_ERR_INVALID_ARGUMENT, "max shard size must be > 0");
    return std::make_unique<CheckpointWriter>(
        dir, plan_checkpoint(m, planned, checkpoint_dtype(m, opt), first, last),
        opt.max_shard_bytes);
}

void write_checkpoint_globals(CheckpointWriter &w, const Model &m) {
    const Config &c = m.cfg;
    // The tables as held (fp32 or the stored view): the written bytes are the same either way,
    // as 16-bit values widen exactly. Pages the copy read need not stay resident.
    w.write_matrix("model.embed_tokens.weight", m.embed.matrix());
    m.embed.release_view_pages();
    w.write_floats("model.norm.weight", m.final_norm.data(), c.dim);
    if (!c.tied_embeddings) {
        w.write_matrix("lm_head.weight", m.lm_head.matrix());
        m.lm_head.release_view_pages();
    }
}

void write_checkpoint_block(CheckpointWriter &w, const Model &m, gptq_ctx *ctx, int l,
                            gptq_zeros_format fmt) {
    const Config &c = m.cfg;
    const Block &b = m.blocks[size_t(l)];
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    w.write_floats(pre + "input_layernorm.weight", b.attn_norm.data(), c.dim);
    w.write_floats(pre + "post_attention_layernorm.weight", b.ffn_norm.data(), c.dim);
    if (!b.q_norm.empty()) {
        w.write_floats(pre + "self_attn.q_norm.weight", b.q_norm.data(), c.head_dim);
        w.write_floats(pre + "self_attn.k_norm.weight", b.k_norm.data(), c.head_dim);
    }
    for (int mod = 0; mod < kNumModules; ++mod) {
        const Linear &lin = b.lin[size_t(mod)];
        const std::string name = module_hf_name(l, mod);
        if (lin.quantized())
            write_quantized(w, ctx, name, lin, fmt);
        else
            w.write_matrix(name + ".weight", lin.matrix());
        const std::vector<float> &bias = b.bias[size_t(mod)];
        if (!bias.empty()) w.write_floats(name + ".bias", bias.data(), int64_t(bias.size()));
    }
}

namespace {

const char *const kModelDirExtras[] = {"tokenizer.json",         "tokenizer_config.json",
                                       "tokenizer.model",        "special_tokens_map.json",
                                       "generation_config.json", "tokenizer.bin"};

// (name in the checkpoint, source path) of the files of `names` present in directory `from`.
void add_present(std::vector<std::pair<std::string, std::string>> &out, const std::string &from,
                 std::initializer_list<const char *> names) {
    if (from.empty() || !is_directory(from)) return;
    for (const char *f : names) {
        const std::string src = join_path(from, f);
        if (file_exists(src)) out.emplace_back(f, src);
    }
}

void add_model_dir_extras(std::vector<std::pair<std::string, std::string>> &out,
                          const std::string &from) {
    for (const char *f : kModelDirExtras) add_present(out, from, {f});
}

} // namespace

std::vector<std::pair<std::string, std::string>> checkpoint_extra_files(
    const std::string &source_dir, const std::string &tokenizer_path) {
    std::vector<std::pair<std::string, std::string>> files;
    add_model_dir_extras(files, source_dir);
    if (tokenizer_path.empty()) return files;
    // The tokenizer the run used replaces the source's tokenizer of the other kind, so a
    // later run on the checkpoint finds the one the calibration used.
    const bool used_llama2c = !is_directory(tokenizer_path) &&
                              !(tokenizer_path.size() >= 5 &&
                                tokenizer_path.compare(tokenizer_path.size() - 5, 5, ".json") == 0);
    files.erase(std::remove_if(files.begin(), files.end(),
                               [&](const auto &f) {
                                   return used_llama2c ? f.first != "tokenizer.bin" &&
                                                             f.first != "generation_config.json"
                                                       : f.first == "tokenizer.bin";
                               }),
                files.end());
    if (is_directory(tokenizer_path)) {
        add_model_dir_extras(files, tokenizer_path);
        return files;
    }
    const std::string &p = tokenizer_path;
    const bool hf = p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0;
    if (hf) {
        const size_t slash = p.find_last_of('/');
        add_present(files, slash == std::string::npos ? "." : p.substr(0, slash),
                    {"tokenizer_config.json", "special_tokens_map.json"});
    }
    files.emplace_back(hf ? "tokenizer.json" : "tokenizer.bin", p);
    return files;
}

void copy_tokenizer(const std::string &path, const std::string &dir) {
    for (const auto &[name, src] : checkpoint_extra_files("", path)) {
        const std::string bytes = read_text_file(src);
        write_file_atomic(join_path(dir, name), {{bytes.data(), bytes.size()}});
    }
}

void finish_checkpoint(CheckpointWriter &w, const Model &m, const SaveOptions &opt) {
    w.write_text("config.json", config_json(m, checkpoint_dtype(m, opt)).dump(2) + "\n");
    if (m.quant.quantized)
        w.write_text("quantize_config.json", quantize_config_json(m.quant).dump(2) + "\n");
    // Later entries win: the tokenizer the run used over the source directory's.
    for (const auto &[name, src] : checkpoint_extra_files(opt.source_dir, opt.tokenizer_path))
        w.write_text(name, read_text_file(src));
    w.commit();
}

void save_checkpoint(const Model &m, gptq_ctx *ctx, const std::string &dir,
                     const SaveOptions &opt) {
    for (const Block &b : m.blocks)
        for (const Linear &lin : b.lin)
            if (lin.quantized() && !m.quant.quantized)
                fail(GPTQ_ERR_INTERNAL, "a layer is quantized but the model has no quant config");
    auto w = begin_checkpoint(m, dir, opt, nullptr);
    write_checkpoint_globals(*w, m);
    for (int l = 0; l < int(m.cfg.n_layers); ++l)
        write_checkpoint_block(*w, m, ctx, l, m.quant.zeros_format);
    finish_checkpoint(*w, m, opt);
}

} // namespace llama
