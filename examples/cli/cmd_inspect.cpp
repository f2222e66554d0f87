// gptq inspect: what a checkpoint holds (config, quantization, per-layer tensors and sizes).
#include "commands.h"
#include "common.h"
#include "error.h"
#include "file_io.h"
#include "loaders.h"
#include "safetensors.h"

#include <cstdio>
#include <map>

namespace cli {

using llama::fail;

namespace {

void inspect_llama2c(const std::string &path) {
    const llama::Model m = llama::load_llama2c(path);
    const llama::Config &c = m.cfg;
    std::printf("llama2.c checkpoint %s (%s)\n", path.c_str(), human_bytes(llama::file_size(path)).c_str());
    std::printf("dim %lld hidden %lld layers %lld heads %lld kv_heads %lld vocab %lld seq_len %lld "
                "shared classifier %s\nunquantized fp32\n",
                (long long)c.dim, (long long)c.hidden_dim, (long long)c.n_layers, (long long)c.n_heads,
                (long long)c.n_kv_heads, (long long)c.vocab_size, (long long)c.seq_len,
                c.tied_embeddings ? "yes" : "no");
}

// The quantization settings of a checkpoint: config.json's quantization_config, else the
// separate quantize_config.json (older AutoGPTQ); an empty object when not quantized.
nlohmann::json quant_config(const std::string &dir, const nlohmann::json &cfg) {
    if (cfg.contains("quantization_config") && cfg["quantization_config"].is_object())
        return cfg["quantization_config"];
    const std::string qc = llama::join_path(dir, "quantize_config.json");
    if (!llama::file_exists(qc)) return nlohmann::json::object();
    const nlohmann::json j = nlohmann::json::parse(llama::read_text_file(qc), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(GPTQ_ERR_FORMAT, "%s: not a JSON object", qc.c_str());
    return j;
}

void inspect_hf(const std::string &dir, ModelKind kind) {
    const std::string st = llama::join_path(dir, "model.safetensors");
    const std::string cfg_path = llama::join_path(dir, "config.json");
    const nlohmann::json cfg = nlohmann::json::parse(llama::read_text_file(cfg_path), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) fail(GPTQ_ERR_FORMAT, "%s: not a JSON object", cfg_path.c_str());
    std::printf("%s %s\n", model_kind_name(kind), dir.c_str());
    for (const char *k : {"model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "num_key_value_heads", "vocab_size",
                          "max_position_embeddings", "tie_word_embeddings", "torch_dtype"})
        if (cfg.contains(k)) std::printf("  %-24s %s\n", k, cfg[k].dump().c_str());
    const nlohmann::json qc = quant_config(dir, cfg);
    if (!qc.empty())
        std::printf("quantization_config %s\n", qc.dump().c_str());
    else
        std::printf("not quantized\n");

    const llama::SafeTensorsFile f(st);
    // Group the tensors of each quantized module (".qweight", ".qzeros", ...).
    struct Module {
        int64_t bytes = 0, n = 0, k = 0, groups = 0;
        bool act_order = false;
        std::string dtype;
    };
    std::map<std::string, Module> quantized;
    int64_t q_bytes = 0, other_bytes = 0, other_params = 0;
    for (const auto &kv : f.tensors()) {
        const std::string &name = kv.first;
        const llama::TensorInfo &t = kv.second;
        const size_t dot = name.find_last_of('.');
        const std::string base = name.substr(0, dot), suffix = name.substr(dot + 1);
        if (suffix == "qweight" || suffix == "qzeros" || suffix == "scales" || suffix == "g_idx") {
            Module &mod = quantized[base];
            mod.bytes += int64_t(t.nbytes);
            q_bytes += int64_t(t.nbytes);
            if (suffix == "scales" && t.shape.size() == 2) {
                mod.groups = t.shape[0];
                mod.n = t.shape[1];
            }
            if (suffix == "g_idx" && t.shape.size() == 1) {
                mod.k = t.shape[0];
                const std::vector<int32_t> g = llama::tensor_to_i32(t);
                for (size_t i = 1; i < g.size(); ++i)
                    if (g[i] < g[i - 1]) mod.act_order = true;
            }
        } else {
            other_bytes += int64_t(t.nbytes);
            other_params += t.numel;
        }
    }
    const long long bits =
        qc.contains("bits") && qc["bits"].is_number_integer() ? qc["bits"].get<long long>() : 0;
    if (!quantized.empty()) {
        std::printf("\n%-40s %11s %6s %7s %9s %10s\n", "module", "N x K", "bits", "groups", "g_idx", "size");
        for (const auto &kv : quantized) {
            const Module &mod = kv.second;
            char shape[32];
            std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)mod.n, (long long)mod.k);
            std::printf("%-40s %11s %6lld %7lld %9s %10s\n", kv.first.c_str(), shape, bits,
                        (long long)mod.groups, mod.act_order ? "act-order" : "ordered",
                        human_bytes(mod.bytes).c_str());
        }
    }
    std::printf("\n%zu quantized modules: %s; other tensors: %lld params, %s; file %s\n",
                quantized.size(), human_bytes(q_bytes).c_str(), (long long)other_params,
                human_bytes(other_bytes).c_str(), human_bytes(llama::file_size(st)).c_str());
}

} // namespace

int cmd_inspect(int argc, char **argv) {
    const CommandSpec sp{"inspect", "CKPT",
                         "Shows what CKPT (a Hugging Face / GPTQ directory or a llama2.c .bin)\n"
                         "holds: configuration, quantization settings, quantized modules with\n"
                         "their shapes, bits, group counts, g_idx order and sizes.",
                         {}};
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    if (a.positional().size() != 1) fail(GPTQ_ERR_INVALID_ARGUMENT, "inspect: expected one CKPT (see --help)");
    const std::string path = a.positional()[0];
    const ModelKind kind = detect_model_kind(path);
    try {
        if (kind == ModelKind::Llama2c) inspect_llama2c(path);
        else inspect_hf(path, kind);
    } catch (const nlohmann::json::exception &e) {
        fail(GPTQ_ERR_FORMAT, "%s: unexpected content in its JSON (config.json, quantize_config.json "
                              "or the safetensors header): %s", path.c_str(), json_error_text(e).c_str());
    }
    return 0;
}

} // namespace cli
