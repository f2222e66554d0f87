#include "utf8.h"

namespace llama {

size_t invalid_utf8_at(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = uint8_t(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        if ((c & 0xe0) == 0xc0) len = 2;
        else if ((c & 0xf0) == 0xe0) len = 3;
        else if ((c & 0xf8) == 0xf0) len = 4;
        else return i;
        if (i + len > n) return i;
        for (size_t k = 1; k < len; ++k)
            if ((uint8_t(s[i + k]) & 0xc0) != 0x80) return i;
        const uint32_t cp = utf8_codepoint(s + i, len);
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
        i += len;
    }
    return std::string::npos;
}

uint32_t utf8_codepoint(const char *s, size_t len) {
    const uint8_t c = uint8_t(s[0]);
    if (len == 1) return c;
    uint32_t cp = c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(s[k]) & 0x3f);
    return cp;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xc0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += char(0xe0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    } else {
        out += char(0xf0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3f));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    }
}

} // namespace llama
