// The added tokens of a Hugging Face tokenizer.json (special tokens such as <|endoftext|> and
// <s>, and user-added ones). They are cut out of the text before the normalizer runs (those
// with "normalized": false) or right after it (those with "normalized": true), so the BPE
// never sees them; matching is leftmost-longest, as in Hugging Face.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace llama {

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false, normalized = false, lstrip = false, rstrip = false;
};

// A piece of text between added tokens (id -1), or one added token.
struct TextPiece {
    std::string text;
    int32_t id = -1;
};

class AddedTokens {
public:
    // spec: the "added_tokens" list (null: none).
    explicit AddedTokens(const nlohmann::json &spec);

    // Cuts the tokens whose "normalized" flag equals `normalized` out of `text`; appends the
    // pieces in order. lstrip / rstrip tokens absorb the whitespace next to them.
    void split(const std::string &text, bool normalized, std::vector<TextPiece> &out) const;

    const AddedToken *find(int32_t id) const;               // null: not an added token
    const AddedToken *find(const std::string &content) const;
    int32_t max_id() const { return max_id_; }

private:
    std::vector<AddedToken> tokens_;
    std::unordered_map<int32_t, size_t> by_id_;  // index into tokens_
    std::vector<int> by_first_byte_[256];  // indices into tokens_, longest first
    int32_t max_id_ = -1;
};

} // namespace llama
