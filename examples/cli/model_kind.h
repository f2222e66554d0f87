// What a MODEL argument is, decided from its first bytes (files) or its config files
// (directories) before anything is loaded, so a wrong path gets "not a model file" rather
// than a reader's complaint about nonsense dimensions.
#pragma once

#include <string>

namespace cli {

enum class ModelKind {
    Llama2c,         // llama2.c legacy .bin: seven int32 dimensions, then fp32 weights
    HfDirectory,     // config.json + safetensors weights, not quantized
    GptqDirectory,   // the same with a quantization_config / quantize_config.json
};

const char *model_kind_name(ModelKind k);  // "llama2.c checkpoint", ...

// Throws llama::Error naming the path and what it is instead (missing, a text file, a single
// safetensors file, a GGUF file, a directory without config.json, invalid config JSON, ...).
ModelKind detect_model_kind(const std::string &path);

} // namespace cli
