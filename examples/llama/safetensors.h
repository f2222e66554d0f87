// safetensors reading (validated against truncated or hostile files) and atomic writing.
#pragma once

#include "file_io.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace llama {

// The header may not be larger than this (same limit as the reference safetensors reader).
constexpr uint64_t kMaxSafetensorsHeader = 100u * 1000u * 1000u;

struct TensorInfo {
    std::string name;
    std::string dtype;  // as written: "F32", "F16", "BF16", "I32", ...
    size_t elem_size = 0;
    std::vector<int64_t> shape;
    int64_t numel = 0;
    const uint8_t *data = nullptr;  // inside the mapped file; may be unaligned
    size_t nbytes = 0;
};

class SafeTensorsFile {
public:
    // Maps and validates the whole header: every tensor's dtype is known, its shape is
    // non-negative, its byte range matches shape x dtype and lies inside the file, and no
    // two tensors overlap. Throws Error(GPTQ_ERR_FORMAT / GPTQ_ERR_IO) otherwise.
    explicit SafeTensorsFile(const std::string &path);

    const std::string &path() const { return file_->path(); }
    const TensorInfo *find(const std::string &name) const;
    const TensorInfo &get(const std::string &name) const;  // GPTQ_ERR_FORMAT if missing
    const std::map<std::string, TensorInfo> &tensors() const { return tensors_; }
    const nlohmann::json &metadata() const { return metadata_; }

private:
    std::unique_ptr<MappedFile> file_;
    std::map<std::string, TensorInfo> tensors_;
    nlohmann::json metadata_;
};

// Shape check with a readable message naming the tensor.
void expect_shape(const TensorInfo &t, const std::vector<int64_t> &shape);

// F32, F16 or BF16 tensor -> fp32 values.
std::vector<float> tensor_to_f32(const TensorInfo &t);
// I32 tensor -> values.
std::vector<int32_t> tensor_to_i32(const TensorInfo &t);
// F16 tensor -> raw half bits.
std::vector<uint16_t> tensor_to_f16_bits(const TensorInfo &t);

std::string shape_string(const std::vector<int64_t> &shape);

class SafeTensorsWriter {
public:
    // Copies the data. dtype is a safetensors dtype name whose element size must divide
    // `bytes` into the shape's element count.
    void add(const std::string &name, const std::string &dtype, const std::vector<int64_t> &shape,
             const void *data, size_t bytes);
    void add_f32(const std::string &name, const std::vector<int64_t> &shape, const float *data);
    void add_f16_from_f32(const std::string &name, const std::vector<int64_t> &shape,
                          const float *data);
    void add_bf16_from_f32(const std::string &name, const std::vector<int64_t> &shape,
                           const float *data);
    void add_i32(const std::string &name, const std::vector<int64_t> &shape, const int32_t *data);
    void set_metadata(const std::string &key, const std::string &value);
    void write(const std::string &path) const;  // atomic

private:
    struct Entry {
        std::string name, dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> bytes;
    };
    std::vector<Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

} // namespace llama
