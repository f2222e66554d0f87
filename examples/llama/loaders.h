// Reading models: llama2.c checkpoints and Hugging Face Llama-family directories
// (config.json + model.safetensors or a sharded index; fp32/fp16/bf16 or GPTQ-quantized).
#pragma once

#include "model.h"

#include <string>

namespace llama {

// Checks dimensions for consistency and sane sizes (so later size math cannot overflow).
void validate_config(const Config &c, const std::string &source);

// llama2.c .bin (legacy format, version 0). Keeps llama2.c's interleaved RoPE layout.
Model load_llama2c(const std::string &path);

// A Hugging Face directory. Quantized checkpoints need ctx to build their layers. lazy: the
// floating-point linear layers stay views of the memory-mapped files in their stored dtype
// (Linear::set_source), converted only when needed and released once quantized.
Model load_hf(const std::string &dir, gptq_ctx *ctx, bool lazy = false);

// A file -> llama2.c, a directory -> Hugging Face.
Model load_model(const std::string &path, gptq_ctx *ctx, bool lazy = false);

} // namespace llama
