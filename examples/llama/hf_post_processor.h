// The `post_processor` of a Hugging Face tokenizer.json, reduced to what a single sequence
// needs: the ids put before and after the text's ids. Supported: TemplateProcessing
// ("single"), ByteLevel (adds nothing), BertProcessing / RobertaProcessing (cls ... sep) and
// Sequence of them; anything else is refused by name.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

namespace llama {

struct SpecialTemplate {
    bool present = false;  // false: the post-processor adds nothing (null or ByteLevel only)
    std::vector<int32_t> prefix, suffix;
};

SpecialTemplate parse_post_processor(const nlohmann::json &spec);

} // namespace llama
