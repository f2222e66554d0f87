// Writing a model as a Hugging Face directory: model.safetensors (GPTQ layout for quantized
// layers, docs/gptq-reference.md §5), config.json with quantization_config, quantize_config.json.
#pragma once

#include "model.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace llama {

struct SaveOptions {
    // dtype of unquantized tensors (embeddings, norms, lm_head, fp32 linears):
    // "auto" keeps the source dtype, else "F32", "F16" or "BF16".
    std::string dtype = "auto";
    // The tokenizer used (its files are copied into the checkpoint); empty: none.
    std::string tokenizer_path;
    // The source model directory: its tokenizer and generation files are copied alongside
    // (tokenizer and generation_config files). Empty: none.
    std::string source_dir;
    // Shards of at most this many bytes (a larger tensor gets a shard of its own).
    uint64_t max_shard_bytes = uint64_t(4) << 30;
};

class CheckpointWriter;

// The model must be in HF layout (see convert.h); ctx is the one its layers belong to.
// The directory is written aside and published whole (checkpoint_writer.h): a reader sees
// the old checkpoint or the complete new one, and a failure leaves no partial output.
void save_checkpoint(const Model &m, gptq_ctx *ctx, const std::string &dir,
                     const SaveOptions &opt);

// The same in pieces, for writing while quantizing: begin (planned: the quantization every
// linear layer will get, or null for the model as it is), the global tensors and each block
// once final in any order, then finish (config files, tokenizer, publish).
std::string checkpoint_dtype(const Model &m, const SaveOptions &opt);
std::unique_ptr<CheckpointWriter> begin_checkpoint(const Model &m, const std::string &dir,
                                                   const SaveOptions &opt,
                                                   const QuantConfig *planned, int first = 0,
                                                   int last = -1);
void write_checkpoint_globals(CheckpointWriter &w, const Model &m);
void write_checkpoint_block(CheckpointWriter &w, const Model &m, gptq_ctx *ctx, int layer,
                            gptq_zeros_format fmt);
void finish_checkpoint(CheckpointWriter &w, const Model &m, const SaveOptions &opt);

// The files that make a checkpoint a complete model directory, as (name, source path): the
// tokenizer and generation files of source_dir, then those of the tokenizer the run used
// (a directory's tokenizer files; a tokenizer.json with its tokenizer_config.json and
// special_tokens_map.json; a llama2.c file as tokenizer.bin).
std::vector<std::pair<std::string, std::string>> checkpoint_extra_files(
    const std::string &source_dir, const std::string &tokenizer_path);
// Copies the tokenizer at `path` into directory `dir` (checkpoint_extra_files' rules).
void copy_tokenizer(const std::string &path, const std::string &dir);

// The quantization_config / quantize_config.json object of a quantized model.
nlohmann::json quantize_config_json(const QuantConfig &q);

} // namespace llama
