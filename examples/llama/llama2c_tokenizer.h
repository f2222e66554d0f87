// llama2.c BPE tokenizer (sentencepiece-style: leading space, merges by score, byte fallback).
#pragma once

#include "tokenizer.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace llama {

class Llama2cTokenizer final : public Tokenizer {
public:
    // vocab_size: the model's; the file must hold exactly that many tokens (0: all in file).
    Llama2cTokenizer(const std::string &path, int64_t vocab_size);

    // BOS (optional) + tokens of " " + text, merged greedily by the highest pair score.
    std::vector<int32_t> encode(const std::string &text, bool bos) const override;
    // Line by line when no piece can merge across a newline (true of tok512.bin), else whole.
    std::vector<int32_t> encode_prefix(const std::string &text, bool bos,
                                       size_t min_tokens) const override;
    std::string decode(const std::vector<int32_t> &ids) const override;
    // Text of `token` following `prev` (drops the leading space after BOS, expands <0xXX>).
    std::string decode(int32_t prev, int32_t token) const override;

    int32_t bos_id() const override { return kBos; }
    int32_t eos_id() const override { return kEos; }
    int64_t size() const override { return int64_t(pieces_.size()); }
    const std::string &piece(int32_t id) const { return pieces_.at(size_t(id)); }

    static constexpr int32_t kBos = 1, kEos = 2, kByteBase = 3;

private:
    int32_t lookup(const std::string &s) const;
    // Appends the merged tokens of text[from, to) (" " first when from is 0).
    void encode_piece(const std::string &text, size_t from, size_t to, std::vector<int32_t> &ids) const;
    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::unordered_map<std::string, int32_t> index_;
    bool newline_isolated_ = false;
};

} // namespace llama
