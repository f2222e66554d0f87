// The BPE `model` of a Hugging Face tokenizer.json: vocabulary, ranked merges, unk / fuse_unk,
// byte_fallback and ignore_merges. A word's symbols sit in a linked list and candidate merges
// in a priority queue (lowest rank, then leftmost), so a word of n symbols costs
// O(n log n); encoded words are cached.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace llama {

class BpeModel {
public:
    // spec: the "model" value; byte_level: words arrive as raw bytes to be shown in GPT-2's
    // byte-level alphabet (a ByteLevel pre-tokenizer).
    BpeModel(const nlohmann::json &spec, bool byte_level);

    // Appends the ids of one pre-tokenized word.
    void encode_word(const std::string &word, std::vector<int32_t> &out) const;

    int32_t id_of(const std::string &token) const;  // -1: not in the vocabulary
    // The vocabulary's token strings by id ("" for ids the vocabulary skips).
    const std::vector<std::string> &tokens() const { return tokens_; }

private:
    void merge(const std::string &word, std::vector<int32_t> &out) const;
    void initial_symbols(const std::string &word, std::vector<int32_t> &symbols) const;

    struct Merge {
        int32_t rank, id;
    };
    static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

    std::unordered_map<std::string, int32_t> vocab_;
    std::vector<std::string> tokens_;
    std::unordered_map<uint64_t, Merge> merges_;
    bool byte_level_;
    int32_t byte_symbol_[256];    // byte_level: id of each byte's character (-1: absent)
    int32_t byte_fallback_[256];  // byte_fallback: id of <0xXX> (-1: off or absent)
    int32_t ascii_symbol_[128];   // id of each ASCII character as a token (-1: absent)
    bool byte_fallback_on_ = false;
    int32_t unk_ = -1;
    bool fuse_unk_ = false;
    bool ignore_merges_ = false;

    // Words seen before (a text's words repeat a lot). Bounded; guarded for concurrent encodes.
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

} // namespace llama
