// The `pre_tokenizer` of a Hugging Face tokenizer.json: cuts normalized text into words that
// BPE encodes independently. Supported: Split (regex or string, every delimiter behaviour,
// invert), ByteLevel (GPT-2 regex, add_prefix_space), Metaspace, Digits, Sequence of them;
// anything else is refused by name.
#pragma once

#include "regex.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace llama {

class HfPreTokenizer {
public:
    // spec: the "pre_tokenizer" value (null: the whole text is one word).
    explicit HfPreTokenizer(const nlohmann::json &spec);
    HfPreTokenizer(HfPreTokenizer &&) noexcept;
    ~HfPreTokenizer();

    // The words of `text` (valid UTF-8), in order. at_start: the text begins the input (not
    // after an added token), for Metaspace's prepend_scheme "first".
    std::vector<std::string> split(const std::string &text, bool at_start) const;

    // Whether a ByteLevel step maps each word's bytes to the byte-level alphabet (the BPE
    // model then starts from one symbol per byte).
    bool byte_level() const { return byte_level_; }

private:
    struct Step;
    void add(const nlohmann::json &spec);
    std::vector<std::unique_ptr<Step>> steps_;
    bool byte_level_ = false;
};

} // namespace llama
