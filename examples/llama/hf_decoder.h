// The `decoder` of a Hugging Face tokenizer.json, turning token strings back into text:
// ByteLevel, ByteFallback, Replace, Fuse, Strip, Metaspace and Sequence. Anything else is
// refused by name.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace llama {

class HfDecoder {
public:
    // spec: the "decoder" value (null: the tokens are concatenated).
    explicit HfDecoder(const nlohmann::json &spec);

    // The text of a sequence of token strings. Bytes come out as they are (no U+FFFD for a
    // byte sequence cut inside a character).
    std::string decode(std::vector<std::string> tokens) const;

private:
    struct Step {
        enum Kind { kByteLevel, kByteFallback, kReplace, kFuse, kStrip, kMetaspace } kind;
        std::string pattern, content;  // Replace; Strip: content; Metaspace: pattern
        int start = 0, stop = 0;       // Strip; Metaspace: start = 1 drops the first space
    };
    void add(const nlohmann::json &spec);
    std::vector<Step> steps_;
};

} // namespace llama
