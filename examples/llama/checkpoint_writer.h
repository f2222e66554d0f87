// Streaming checkpoint output: the tensor list of a checkpoint is planned up front (names,
// dtypes and shapes are known before quantization), split into shards of at most
// max_shard_bytes (Hugging Face naming: model.safetensors for one shard, else
// model-00001-of-0000N.safetensors + model.safetensors.index.json), and each shard's header
// is written when it is created. Tensors are then written at their planned offsets as soon
// as they exist, in any order, so a block's tensors leave memory right after it is
// quantized. Everything lands in a StagingDir published by commit().
#pragma once

#include "model.h"
#include "staging_dir.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace llama {

struct PlannedTensor {
    std::string name, dtype;  // safetensors dtype: F32, F16, BF16, I32
    std::vector<int64_t> shape;
    uint64_t bytes = 0;
};

// Every tensor of m's checkpoint in file order. quant: the configuration the linear layers of
// blocks [first, last) will be quantized with (last -1: to the end), or null to plan every
// layer as it is now (quantized or floating point). float_dtype: dtype of the floating-point
// tensors.
std::vector<PlannedTensor> plan_checkpoint(const Model &m, const QuantConfig *quant,
                                           const std::string &float_dtype, int first = 0,
                                           int last = -1);

constexpr uint64_t kDefaultMaxShardBytes = uint64_t(4) << 30;

class CheckpointWriter {
public:
    CheckpointWriter(const std::string &out, std::vector<PlannedTensor> plan,
                     uint64_t max_shard_bytes);
    ~CheckpointWriter();
    CheckpointWriter(const CheckpointWriter &) = delete;
    CheckpointWriter &operator=(const CheckpointWriter &) = delete;

    // The planned tensor's bytes (exactly its planned size), written once.
    void write(const std::string &name, const void *data, uint64_t bytes);
    // A floating-point tensor given as fp32, converted to its planned dtype.
    void write_floats(const std::string &name, const float *data, int64_t count);
    // A floating-point tensor given as a contiguous view in any float dtype (stored bytes are
    // copied as they are when the dtype matches the planned one).
    void write_matrix(const std::string &name, const gptq_matrix &m);
    // A small file next to the shards (config.json, ...).
    void write_text(const std::string &file, const std::string &text);
    int shard_count() const { return int(shards_.size()); }
    // File names (without directory) of the shards, in order.
    std::vector<std::string> shard_names() const;
    // Checks that every planned tensor was written, syncs the shards, writes the index and
    // publishes the directory.
    void commit();

private:
    struct Shard {
        std::string file;
        int fd = -1;
        uint64_t data_start = 0;
    };
    struct Slot {
        int shard = 0;
        uint64_t offset = 0;  // within the shard's data section
        PlannedTensor t;
        bool written = false;
    };
    StagingDir dir_;
    std::vector<Shard> shards_;
    std::map<std::string, Slot> slots_;
    std::vector<std::string> order_;

    void close_all() noexcept;
};

} // namespace llama
