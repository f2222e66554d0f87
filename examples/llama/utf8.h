// The few UTF-8 operations the tokenizers need (no Unicode tables: those come from PCRE2 and
// utf8proc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace llama {

// Offset of the first byte that is not part of a valid UTF-8 sequence, or npos.
size_t invalid_utf8_at(const char *s, size_t n);

// Length in bytes of the character starting at s[i] (valid UTF-8 assumed; a stray
// continuation byte counts as one).
inline size_t utf8_char_len(const char *s, size_t n, size_t i) {
    size_t j = i + 1;
    while (j < n && (uint8_t(s[j]) & 0xc0) == 0x80) ++j;
    return j - i;
}

// The code point of the character at s[i, i + len) (valid UTF-8 assumed).
uint32_t utf8_codepoint(const char *s, size_t len);

// Appends the UTF-8 encoding of a code point.
void append_utf8(std::string &out, uint32_t codepoint);

} // namespace llama
