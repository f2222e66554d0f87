// The original llama2.c tokenizer, kept as the reference its faster replacement is checked
// (tests) and timed (bench) against: it rescans the whole sequence for every merge, so it is
// quadratic in the text length.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace naive {

// A llama2.c tokenizer file read directly: int32 max_len, then per token float score,
// int32 len, bytes. Returns false when the file cannot be read.
struct Llama2cVocab {
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::unordered_map<std::string, int32_t> index;
};
bool read_llama2c_vocab(const std::string &path, Llama2cVocab &v);

// " " + text as code points (else bytes at 3 + byte), then the best-scoring adjacent pair is
// merged (leftmost on ties) until no pair is in the vocabulary. No BOS.
std::vector<int32_t> llama2c_encode(const Llama2cVocab &v, const std::string &text);

} // namespace naive
