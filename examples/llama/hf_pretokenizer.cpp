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
    bool add_prefix_space = false;

    // Appends the pieces of `word` to `out`.
    void apply(const std::string &word, std::vector<std::string> &out) const {
        std::string prefixed;
        const std::string *w = &word;
        if (add_prefix_space && (word.empty() || word[0] != ' ')) {
            prefixed = " " + word;
            w = &prefixed;
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
        step->add_prefix_space = spec.value("add_prefix_space", false);
        byte_level_ = true;
    } else if (type == "Digits") {
        const bool individual = spec.value("individual_digits", false);
        step->regex = std::make_unique<Regex>(individual ? "\\p{N}" : "\\p{N}+", "pre_tokenizer Digits");
    } else {
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer '%s' is not supported "
             "(supported: Split, ByteLevel, Digits, Sequence)", type.c_str());
    }
    steps_.push_back(std::move(step));
}

std::vector<std::string> HfPreTokenizer::split(const std::string &text) const {
    std::vector<std::string> words{text}, next;
    for (const auto &s : steps_) {
        next.clear();
        for (const std::string &w : words) s->apply(w, next);
        words.swap(next);
    }
    return words;
}

} // namespace llama
