// A compiled PCRE2 regular expression (UTF + Unicode properties, JIT when available), for the
// `\p{L}` / `\p{N}` patterns of Hugging Face tokenizers.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace llama {

class Regex {
public:
    // what: names the pattern's owner in error messages (e.g. "pre_tokenizer Split").
    Regex(const std::string &pattern, const std::string &what);
    ~Regex();
    Regex(const Regex &) = delete;
    Regex &operator=(const Regex &) = delete;

    // Calls on_match(begin, end) for each successive non-overlapping match in s[0, n), which
    // must be valid UTF-8 (callers check once: invalid_utf8_at in utf8.h). An empty match is skipped
    // and the search moves on by one character, so no pattern can loop forever.
    void for_each_match(const char *s, size_t n,
                        const std::function<void(size_t, size_t)> &on_match) const;

    // s with every match replaced by `with` (literally).
    std::string replace_all(const std::string &s, const std::string &with) const;

private:
    void *code_ = nullptr;  // pcre2_code_8
};

} // namespace llama
