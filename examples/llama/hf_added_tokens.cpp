#include "hf_added_tokens.h"

#include "error.h"

#include <algorithm>

namespace llama {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

} // namespace

AddedTokens::AddedTokens(const nlohmann::json &spec) {
    if (spec.is_null()) return;
    if (!spec.is_array()) fail(GPTQ_ERR_FORMAT, "tokenizer.json: \"added_tokens\" is not a list");
    for (const auto &t : spec) {
        if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
            !t["content"].is_string() || t["content"].get<std::string>().empty() || t["id"].get<int64_t>() < 0 ||
            t["id"].get<int64_t>() >= (int64_t(1) << 30))
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: an added token lacks a valid id or content");
        AddedToken a;
        a.content = t["content"].get<std::string>();
        a.id = t["id"].get<int32_t>();
        a.special = t.value("special", false);
        a.normalized = t.value("normalized", !a.special);
        a.lstrip = t.value("lstrip", false);
        a.rstrip = t.value("rstrip", false);
        if (t.value("single_word", false))
            fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: added token '%s' has single_word, which is not supported",
                 a.content.c_str());
        max_id_ = std::max(max_id_, a.id);
        tokens_.push_back(a);
    }
    for (size_t i = 0; i < tokens_.size(); ++i) by_id_[tokens_[i].id] = i;
    for (size_t i = 0; i < tokens_.size(); ++i)
        by_first_byte_[uint8_t(tokens_[i].content[0])].push_back(int(i));
    for (auto &v : by_first_byte_)
        std::stable_sort(v.begin(), v.end(), [&](int a, int b) {
            return tokens_[size_t(a)].content.size() > tokens_[size_t(b)].content.size();
        });
}

void AddedTokens::split(const std::string &text, bool normalized, std::vector<TextPiece> &out) const {
    size_t plain_from = 0;  // start of the text not yet emitted
    for (size_t i = 0; i < text.size();) {
        const AddedToken *hit = nullptr;
        for (int k : by_first_byte_[uint8_t(text[i])]) {
            const AddedToken &t = tokens_[size_t(k)];
            if (t.normalized == normalized && text.compare(i, t.content.size(), t.content) == 0) {
                hit = &t;
                break;
            }
        }
        if (!hit) {
            ++i;
            continue;
        }
        size_t plain_to = i, after = i + hit->content.size();
        if (hit->lstrip)
            while (plain_to > plain_from && is_space(text[plain_to - 1])) --plain_to;
        if (hit->rstrip)
            while (after < text.size() && is_space(text[after])) ++after;
        if (plain_to > plain_from) out.push_back({text.substr(plain_from, plain_to - plain_from), -1});
        out.push_back({std::string(), hit->id});
        plain_from = i = after;
    }
    if (plain_from < text.size()) out.push_back({text.substr(plain_from), -1});
}

const AddedToken *AddedTokens::find(int32_t id) const {
    const auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken *AddedTokens::find(const std::string &content) const {
    for (const AddedToken &t : tokens_)
        if (t.content == content) return &t;
    return nullptr;
}

} // namespace llama
