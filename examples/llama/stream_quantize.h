// Whole-model quantization written out as it goes: the checkpoint directory is staged before
// the first block is quantized (so an unwritable output fails early), each block's tensors are
// written as soon as the block is final, and the directory is published at the end. An error
// or SIGINT/SIGTERM on the way leaves no output directory (and an existing one untouched).
#pragma once

#include "checkpoint.h"
#include "sequential.h"

#include <string>
#include <vector>

namespace llama {

struct StreamResult {
    std::vector<LayerRecord> records;
    std::vector<std::string> shards;  // file names of the written shards
};

// m must be in HF layout with floating-point linear layers (lazy views welcome); see
// quantize_model for the other arguments (opt's layer range included: blocks outside it are
// written unquantized). Every block is written and freed as soon as it is final, so m's
// linear layers are all released (empty) afterwards.
// `before_publish`, if set, runs after the last block and before the directory is published
// (reports, heatmaps: a failure there still leaves no output).
StreamResult quantize_to_checkpoint(Model &m, gptq_ctx *ctx,
                                    const std::vector<std::vector<int32_t>> &calib,
                                    QuantizeOptions opt, const std::string &out,
                                    const SaveOptions &so,
                                    const QuantizeProgressFn &progress = nullptr,
                                    const std::function<void(const std::vector<LayerRecord> &)>
                                        &before_publish = nullptr);

} // namespace llama
