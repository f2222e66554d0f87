#include "hf_post_processor.h"

#include "error.h"
#include "hf_normalizer.h"

namespace llama {

namespace {

void parse_template(const nlohmann::json &spec, SpecialTemplate &t) {
    const auto &single = member(spec, "single");
    const auto &specials = spec.value("special_tokens", nlohmann::json::object());
    if (!single.is_array() || !specials.is_object())
        fail(GPTQ_ERR_FORMAT, "tokenizer.json: TemplateProcessing without a \"single\" template");
    bool seen_sequence = false;
    for (const auto &item : single) {
        if (item.is_object() && item.contains("Sequence")) {
            if (seen_sequence)
                fail(GPTQ_ERR_FORMAT, "tokenizer.json: TemplateProcessing \"single\" holds two sequences");
            seen_sequence = true;
            continue;
        }
        if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object())
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: TemplateProcessing item is neither a SpecialToken nor a Sequence");
        const std::string name = item["SpecialToken"].value("id", std::string());
        if (!specials.contains(name) || !specials[name].is_object() || !specials[name].contains("ids") ||
            !specials[name]["ids"].is_array())
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: TemplateProcessing special token '%s' has no ids", name.c_str());
        for (const auto &id : specials[name]["ids"]) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t(1) << 30))
                fail(GPTQ_ERR_FORMAT, "tokenizer.json: TemplateProcessing special token '%s' has a bad id",
                     name.c_str());
            (seen_sequence ? t.suffix : t.prefix).push_back(id.get<int32_t>());
        }
    }
    if (!seen_sequence) fail(GPTQ_ERR_FORMAT, "tokenizer.json: TemplateProcessing \"single\" has no sequence");
}

// BertProcessing / RobertaProcessing: "cls": [token, id], "sep": [token, id].
int32_t pair_id(const nlohmann::json &spec, const char *key, const std::string &type) {
    const auto &v = spec.value(key, nlohmann::json());
    if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer() || v[1].get<int64_t>() < 0)
        fail(GPTQ_ERR_FORMAT, "tokenizer.json: %s without a valid \"%s\"", type.c_str(), key);
    return v[1].get<int32_t>();
}

void add(const nlohmann::json &spec, SpecialTemplate &t) {
    const std::string type = component_type(spec, "post_processor");
    if (type == "Sequence") {
        for (const auto &p : sequence_members(spec, "processors", "post_processor")) add(p, t);
        return;
    }
    if (type == "ByteLevel") return;  // only adjusts offsets
    if (t.present)
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: more than one post_processor adds special tokens");
    t.present = true;
    if (type == "TemplateProcessing") {
        parse_template(spec, t);
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
        t.prefix.push_back(pair_id(spec, "cls", type));
        t.suffix.push_back(pair_id(spec, "sep", type));
    } else {
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: post_processor '%s' is not supported "
             "(supported: TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence)",
             type.c_str());
    }
}

} // namespace

SpecialTemplate parse_post_processor(const nlohmann::json &spec) {
    SpecialTemplate t;
    if (!spec.is_null()) add(spec, t);
    return t;
}

} // namespace llama
