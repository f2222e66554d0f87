// Writing a model as a Hugging Face directory: model.safetensors (GPTQ layout for quantized
// layers, spec §5), config.json with quantization_config, quantize_config.json.
#pragma once

#include "model.h"

#include <string>

namespace llama {

struct SaveOptions {
    // dtype of unquantized tensors (embeddings, norms, lm_head, fp32 linears):
    // "auto" keeps the source dtype, else "F32", "F16" or "BF16".
    std::string dtype = "auto";
    // The tokenizer used (see copy_tokenizer); empty: none.
    std::string tokenizer_path;
    // The source model directory: its tokenizer and generation files are copied alongside
    // (see copy_model_dir_extras). Empty: none.
    std::string source_dir;
};

// The model must be in HF layout (see convert.h); ctx is the one its layers belong to.
// Each file is replaced atomically.
void save_checkpoint(const Model &m, gptq_ctx *ctx, const std::string &dir,
                     const SaveOptions &opt);

// Copies tokenizer.json, tokenizer_config.json, tokenizer.model, special_tokens_map.json,
// generation_config.json and a llama2.c tokenizer.bin from directory `from` (those present) into `to`, so `to` is a
// complete model directory. Does nothing when `from` is empty or not a directory.
void copy_model_dir_extras(const std::string &from, const std::string &to);

// Puts the tokenizer at `path` into checkpoint directory `dir`: a llama2.c file as
// tokenizer.bin, a tokenizer.json with its sibling files, a directory's tokenizer files.
void copy_tokenizer(const std::string &path, const std::string &dir);

// The quantization_config / quantize_config.json object of a quantized model.
nlohmann::json quantize_config_json(const QuantConfig &q);

} // namespace llama
