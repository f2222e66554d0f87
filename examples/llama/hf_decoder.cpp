#include "hf_decoder.h"

#include "byte_level.h"
#include "error.h"
#include "hf_normalizer.h"
#include "utf8.h"

#include <cstdlib>

namespace llama {

namespace {

// The byte of a "<0xXX>" token, or -1.
int fallback_byte(const std::string &t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    char *end = nullptr;
    const long v = std::strtol(t.c_str() + 3, &end, 16);
    return end == t.c_str() + 5 ? int(v) : -1;
}

// Each character of the byte-level alphabet back to its byte; others pass unchanged.
std::string from_byte_level(const std::string &t) {
    std::string out;
    for (size_t i = 0; i < t.size();) {
        const size_t len = utf8_char_len(t.data(), t.size(), i);
        const int b = byte_level_byte(utf8_codepoint(t.data() + i, len));
        if (b >= 0) out += char(b);
        else out.append(t, i, len);
        i += len;
    }
    return out;
}

// Removes up to `start` leading and `stop` trailing copies of the character `content`.
std::string strip(const std::string &t, const std::string &content, int start, int stop) {
    size_t b = 0, e = t.size();
    for (int k = 0; k < start && e - b >= content.size() && t.compare(b, content.size(), content) == 0; ++k)
        b += content.size();
    for (int k = 0; k < stop && e - b >= content.size() &&
                    t.compare(e - content.size(), content.size(), content) == 0;
         ++k)
        e -= content.size();
    return t.substr(b, e - b);
}

} // namespace

HfDecoder::HfDecoder(const nlohmann::json &spec) {
    if (!spec.is_null()) add(spec);
}

void HfDecoder::add(const nlohmann::json &spec) {
    const std::string type = component_type(spec, "decoder");
    Step step{Step::kFuse, "", "", 0, 0};
    if (type == "Sequence") {
        for (const auto &d : sequence_members(spec, "decoders", "decoder")) add(d);
        return;
    }
    if (type == "ByteLevel") {
        step.kind = Step::kByteLevel;
    } else if (type == "ByteFallback") {
        step.kind = Step::kByteFallback;
    } else if (type == "Fuse") {
        step.kind = Step::kFuse;
    } else if (type == "Replace") {
        const auto &pat = member(spec, "pattern");
        if (!pat.is_object() || !pat.contains("String") || !pat["String"].is_string() ||
            pat["String"].get<std::string>().empty() || !spec.contains("content") ||
            !spec["content"].is_string())
            fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: decoder Replace is supported with a String pattern only");
        step.kind = Step::kReplace;
        step.pattern = pat["String"].get<std::string>();
        step.content = spec["content"].get<std::string>();
    } else if (type == "Strip") {
        step.kind = Step::kStrip;
        step.content = spec.value("content", std::string(" "));
        step.start = spec.value("start", 0);
        step.stop = spec.value("stop", 0);
        if (step.content.empty() || step.start < 0 || step.stop < 0)
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: decoder Strip needs a character and counts >= 0");
    } else if (type == "Metaspace") {
        step.kind = Step::kMetaspace;
        step.pattern = spec.value("replacement", std::string("\xe2\x96\x81"));  // U+2581 ▁
        const std::string scheme = spec.value("prepend_scheme", spec.value("add_prefix_space", true) ? "always" : "never");
        step.start = scheme != "never";
        if (step.pattern.empty()) fail(GPTQ_ERR_FORMAT, "tokenizer.json: decoder Metaspace with an empty replacement");
    } else {
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: decoder '%s' is not supported "
             "(supported: ByteLevel, ByteFallback, Replace, Fuse, Strip, Metaspace, Sequence)", type.c_str());
    }
    steps_.push_back(step);
}

std::string HfDecoder::decode(std::vector<std::string> tokens) const {
    for (const Step &s : steps_) {
        switch (s.kind) {
        case Step::kByteLevel: {
            // Hugging Face joins the tokens here; the later steps then see one string.
            std::string all;
            for (const std::string &t : tokens) all += from_byte_level(t);
            tokens.assign(1, all);
            break;
        }
        case Step::kByteFallback: {
            // A run of <0xXX> tokens becomes one token of those bytes, as in Hugging Face.
            std::vector<std::string> grouped;
            bool in_run = false;
            for (const std::string &t : tokens) {
                const int b = fallback_byte(t);
                if (b < 0) grouped.push_back(t);
                else if (in_run) grouped.back() += char(b);
                else grouped.emplace_back(1, char(b));
                in_run = b >= 0;
            }
            tokens.swap(grouped);
            break;
        }
        case Step::kReplace:
            for (std::string &t : tokens) replace_substrings(t, s.pattern, s.content);
            break;
        case Step::kFuse: {
            std::string all;
            for (const std::string &t : tokens) all += t;
            tokens.assign(1, all);
            break;
        }
        case Step::kMetaspace:
            // The replacement is a space again; the one prepended to the text goes.
            for (size_t i = 0; i < tokens.size(); ++i) {
                replace_substrings(tokens[i], s.pattern, " ");
                if (i == 0 && s.start && !tokens[i].empty() && tokens[i][0] == ' ') tokens[i].erase(0, 1);
            }
            break;
        case Step::kStrip:
            for (std::string &t : tokens) t = strip(t, s.content, s.start, s.stop);
            break;
        }
    }
    std::string out;
    for (const std::string &t : tokens) out += t;
    return out;
}

} // namespace llama
