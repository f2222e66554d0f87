// The `normalizer` of a Hugging Face tokenizer.json: NFC/NFD/NFKC/NFKD (utf8proc), Prepend,
// Replace (string or regex) and Sequence of them. Anything else is refused by name.
#pragma once

#include "regex.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace llama {

class HfNormalizer {
public:
    // spec: the "normalizer" value (null: text passes unchanged).
    explicit HfNormalizer(const nlohmann::json &spec);
    HfNormalizer(HfNormalizer &&) noexcept;
    ~HfNormalizer();

    // Normalizes one piece of text between added tokens (valid UTF-8).
    std::string apply(std::string text) const;

private:
    struct Step;
    void add(const nlohmann::json &spec);
    std::vector<std::unique_ptr<Step>> steps_;
};

// Replaces every occurrence of `pattern` (not empty) in s, left to right.
void replace_substrings(std::string &s, const std::string &pattern, const std::string &with);

// spec[key] without copying it (a vocabulary is large), or null when absent.
const nlohmann::json &member(const nlohmann::json &spec, const char *key);

// The "type" of a component, refusing a component that has none.
std::string component_type(const nlohmann::json &spec, const char *what);

// The members of a Sequence component (spec[key], a list), refusing a Sequence without them.
const nlohmann::json &sequence_members(const nlohmann::json &spec, const char *key, const char *what);

} // namespace llama
