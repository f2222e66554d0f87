#include "hf_pretokenizer.h"

#include "error.h"
#include "hf_normalizer.h"

#include <algorithm>
#include <cctype>

namespace llama {

namespace {

// GPT-2's pre-tokenization pattern, which ByteLevel applies when use_regex is set.
const char *const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const nlohmann::json &spec) {
    const std::string b = spec.value("behavior", std::string());
    if (b == "Removed") return Behavior::kRemoved;
    if (b == "Isolated") return Behavior::kIsolated;
    if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
    if (b == "MergedWithNext") return Behavior::kMergedWithNext;
    if (b == "Contiguous") return Behavior::kContiguous;
    fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer Split behavior '%s' is not supported",
         b.c_str());
}

// A regex that matches `literal` exactly: every ASCII punctuation character escaped.
std::string escape_literal(const std::string &literal) {
    std::string r;
    for (char c : literal) {
        const uint8_t u = uint8_t(c);
        if (u < 0x80 && !std::isalnum(u)) r += '\\';
        r += c;
    }
    return r;
}

struct Segment {
    size_t begin, end;
    bool is_match;
};

} // namespace

struct HfPreTokenizer::Step {
    std::unique_ptr<Regex> regex;  // null: no split
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    std::string space_to;  // Metaspace: every ' ' becomes this first
    // ByteLevel add_prefix_space (" ", every word) and Metaspace prepend_scheme (the
    // replacement; every word, or only the one at the start of the text).
    enum class Prefix { kNever, kFirst, kAlways } prefix_when = Prefix::kNever;
    std::string prefix;

    // Appends the pieces of `word` to `out`; at_start: the word begins the text.
    void apply(const std::string &word, bool at_start, std::vector<std::string> &out) const {
        std::string changed;
        const std::string *w = &word;
        if (!space_to.empty() && word.find(' ') != std::string::npos) {
            changed = word;
            replace_substrings(changed, " ", space_to);
            w = &changed;
        }
        const bool wants_prefix = prefix_when == Prefix::kAlways || (prefix_when == Prefix::kFirst && at_start);
        if (wants_prefix && w->compare(0, prefix.size(), prefix) != 0) {
            changed = prefix + *w;
            w = &changed;
        }
        if (!regex) {
            out.push_back(*w);
            return;
        }
        // The word as alternating gaps and matches, then grouped by the behaviour.
        std::vector<Segment> segs;
        size_t last = 0;
        regex->for_each_match(w->data(), w->size(), [&](size_t b, size_t e) {
            if (b > last) segs.push_back({last, b, false});
            segs.push_back({b, e, true});
            last = e;
        });
        if (last < w->size()) segs.push_back({last, w->size(), false});
        if (invert)
            for (Segment &s : segs) s.is_match = !s.is_match;
        std::vector<Segment> pieces;
        bool previous_match = false;
        switch (behavior) {
        case Behavior::kRemoved:
            for (const Segment &s : segs)
                if (!s.is_match) pieces.push_back(s);
            break;
        case Behavior::kIsolated: pieces = segs; break;
        case Behavior::kMergedWithPrevious:
            for (const Segment &s : segs) {
                if (s.is_match && !previous_match && !pieces.empty()) pieces.back().end = s.end;
                else pieces.push_back(s);
                previous_match = s.is_match;
            }
            break;
        case Behavior::kMergedWithNext:
            for (size_t i = segs.size(); i-- > 0;) {
                const Segment &s = segs[i];
                if (s.is_match && !previous_match && !pieces.empty()) pieces.back().begin = s.begin;
                else pieces.push_back(s);
                previous_match = s.is_match;
            }
            std::reverse(pieces.begin(), pieces.end());
            break;
        case Behavior::kContiguous:
            for (size_t i = 0; i < segs.size(); ++i) {
                if (i > 0 && segs[i].is_match == previous_match) pieces.back().end = segs[i].end;
                else pieces.push_back(segs[i]);
                previous_match = segs[i].is_match;
            }
            break;
        }
        for (const Segment &p : pieces) out.emplace_back(*w, p.begin, p.end - p.begin);
    }
};

HfPreTokenizer::HfPreTokenizer(const nlohmann::json &spec) {
    if (!spec.is_null()) add(spec);
}

HfPreTokenizer::~HfPreTokenizer() = default;
HfPreTokenizer::HfPreTokenizer(HfPreTokenizer &&) noexcept = default;

void HfPreTokenizer::add(const nlohmann::json &spec) {
    const std::string type = component_type(spec, "pre_tokenizer");
    // ByteLevel's mapping is done by the BPE model at the end, so nothing may follow it.
    if (byte_level_ && type != "Sequence")
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer '%s' after ByteLevel is not supported",
             type.c_str());
    auto step = std::make_unique<Step>();
    if (type == "Sequence") {
        for (const auto &s : sequence_members(spec, "pretokenizers", "pre_tokenizer")) add(s);
        return;
    }
    if (type == "Split") {
        const auto &pat = member(spec, "pattern");
        std::string regex;
        if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string())
            regex = pat["Regex"].get<std::string>();
        else if (pat.is_object() && pat.contains("String") && pat["String"].is_string())
            regex = escape_literal(pat["String"].get<std::string>());
        else
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: pre_tokenizer Split needs a String or Regex pattern");
        step->regex = std::make_unique<Regex>(regex, "pre_tokenizer Split");
        step->behavior = parse_behavior(spec);
        step->invert = spec.value("invert", false);
    } else if (type == "ByteLevel") {
        if (spec.value("use_regex", true)) step->regex = std::make_unique<Regex>(kGpt2Pattern, "ByteLevel");
        if (spec.value("add_prefix_space", false)) step->prefix_when = Step::Prefix::kAlways, step->prefix = " ";
        byte_level_ = true;
    } else if (type == "Metaspace") {
        step->space_to = spec.value("replacement", std::string("\xe2\x96\x81"));  // U+2581 ▁
        if (step->space_to.empty())
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: pre_tokenizer Metaspace with an empty replacement");
        step->prefix = step->space_to;
        // Older files say add_prefix_space; newer ones prepend_scheme (always / first / never).
        const std::string scheme = spec.value("prepend_scheme", spec.value("add_prefix_space", true) ? "always" : "never");
        if (scheme == "always") step->prefix_when = Step::Prefix::kAlways;
        else if (scheme == "first") step->prefix_when = Step::Prefix::kFirst;
        else if (scheme == "never") step->prefix_when = Step::Prefix::kNever;
        else fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: Metaspace prepend_scheme '%s' is not supported", scheme.c_str());
        if (spec.value("split", true)) {
            step->regex = std::make_unique<Regex>(escape_literal(step->space_to), "pre_tokenizer Metaspace");
            step->behavior = Behavior::kMergedWithNext;
        }
    } else if (type == "Digits") {
        const bool individual = spec.value("individual_digits", false);
        step->regex = std::make_unique<Regex>(individual ? "\\p{N}" : "\\p{N}+", "pre_tokenizer Digits");
    } else {
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer '%s' is not supported "
             "(supported: Split, ByteLevel, Metaspace, Digits, Sequence)", type.c_str());
    }
    steps_.push_back(std::move(step));
}

std::vector<std::string> HfPreTokenizer::split(const std::string &text, bool at_start) const {
    std::vector<std::string> words{text}, next;
    for (const auto &s : steps_) {
        next.clear();
        for (size_t i = 0; i < words.size(); ++i) s->apply(words[i], at_start && i == 0, next);
        words.swap(next);
    }
    return words;
}

} // namespace llama
