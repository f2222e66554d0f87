#include "hf_normalizer.h"

#include "error.h"

#include <utf8proc.h>

#include <cstdlib>

namespace llama {

struct HfNormalizer::Step {
    enum Kind { kUnicode, kPrepend, kReplaceString, kReplaceRegex } kind;
    int utf8proc_options = 0;
    std::string text, with;  // Prepend: text; Replace: pattern (string form) and replacement
    std::unique_ptr<Regex> regex;
};

std::string component_type(const nlohmann::json &spec, const char *what) {
    if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string())
        fail(GPTQ_ERR_FORMAT, "tokenizer.json: %s without a \"type\"", what);
    return spec["type"].get<std::string>();
}

const nlohmann::json &member(const nlohmann::json &spec, const char *key) {
    static const nlohmann::json null;
    if (!spec.is_object()) return null;
    const auto it = spec.find(key);
    return it == spec.end() ? null : *it;
}

const nlohmann::json &sequence_members(const nlohmann::json &spec, const char *key, const char *what) {
    if (!spec.contains(key) || !spec[key].is_array())
        fail(GPTQ_ERR_FORMAT, "tokenizer.json: %s Sequence without \"%s\"", what, key);
    return spec[key];
}

namespace {

bool all_ascii(const std::string &s) {
    for (char c : s)
        if (uint8_t(c) >= 0x80) return false;
    return true;
}

std::string unicode_normalize(const std::string &s, int options) {
    // ASCII is already in every normal form; most text is mostly ASCII.
    if (all_ascii(s)) return s;
    utf8proc_uint8_t *out = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t *>(s.data()), utf8proc_ssize_t(s.size()),
                     &out, utf8proc_option_t(options));
    if (n < 0) fail(GPTQ_ERR_FORMAT, "Unicode normalization failed: %s", utf8proc_errmsg(n));
    std::string r(reinterpret_cast<const char *>(out), size_t(n));
    std::free(out);
    return r;
}

} // namespace

void replace_substrings(std::string &s, const std::string &pattern, const std::string &with) {
    if (pattern.empty() || s.find(pattern) == std::string::npos) return;
    std::string out;
    out.reserve(s.size() + s.size() / 4);
    size_t last = 0, at;
    while ((at = s.find(pattern, last)) != std::string::npos) {
        out.append(s, last, at - last);
        out += with;
        last = at + pattern.size();
    }
    out.append(s, last, std::string::npos);
    s.swap(out);
}

HfNormalizer::HfNormalizer(const nlohmann::json &spec) {
    if (!spec.is_null()) add(spec);
}

HfNormalizer::~HfNormalizer() = default;
HfNormalizer::HfNormalizer(HfNormalizer &&) noexcept = default;

void HfNormalizer::add(const nlohmann::json &spec) {
    const std::string type = component_type(spec, "normalizer");
    auto step = std::make_unique<Step>();
    if (type == "Sequence") {
        for (const auto &s : sequence_members(spec, "normalizers", "normalizer")) add(s);
        return;
    }
    // utf8proc's flags for the four Unicode normal forms (STABLE: no unassigned code points).
    const int stable = UTF8PROC_STABLE;
    if (type == "NFC") step->kind = Step::kUnicode, step->utf8proc_options = stable | UTF8PROC_COMPOSE;
    else if (type == "NFD") step->kind = Step::kUnicode, step->utf8proc_options = stable | UTF8PROC_DECOMPOSE;
    else if (type == "NFKC")
        step->kind = Step::kUnicode, step->utf8proc_options = stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    else if (type == "NFKD")
        step->kind = Step::kUnicode, step->utf8proc_options = stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    else if (type == "Prepend") {
        if (!spec.contains("prepend") || !spec["prepend"].is_string())
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: normalizer Prepend without \"prepend\"");
        step->kind = Step::kPrepend;
        step->text = spec["prepend"].get<std::string>();
    } else if (type == "Replace") {
        const auto &pat = member(spec, "pattern");
        if (!spec.contains("content") || !spec["content"].is_string())
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: normalizer Replace without \"content\"");
        step->with = spec["content"].get<std::string>();
        if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
            step->kind = Step::kReplaceString;
            step->text = pat["String"].get<std::string>();
        } else if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
            step->kind = Step::kReplaceRegex;
            step->regex = std::make_unique<Regex>(pat["Regex"].get<std::string>(), "normalizer Replace");
        } else {
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: normalizer Replace needs a String or Regex pattern");
        }
    } else {
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: normalizer '%s' is not supported "
             "(supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)", type.c_str());
    }
    steps_.push_back(std::move(step));
}

std::string HfNormalizer::apply(std::string text) const {
    for (const auto &s : steps_) {
        switch (s->kind) {
        case Step::kUnicode: text = unicode_normalize(text, s->utf8proc_options); break;
        case Step::kPrepend:
            if (!text.empty()) text.insert(0, s->text);
            break;
        case Step::kReplaceString: replace_substrings(text, s->text, s->with); break;
        case Step::kReplaceRegex: text = s->regex->replace_all(text, s->with); break;
        }
    }
    return text;
}

} // namespace llama
