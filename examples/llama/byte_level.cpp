#include "byte_level.h"

#include "utf8.h"

#include <array>

namespace llama {

namespace {

bool shown_as_itself(int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae; }

struct Alphabet {
    std::array<uint32_t, 256> codepoint{};
    std::array<std::string, 256> utf8;
    Alphabet() {
        uint32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            codepoint[size_t(b)] = shown_as_itself(b) ? uint32_t(b) : next++;
            append_utf8(utf8[size_t(b)], codepoint[size_t(b)]);
        }
    }
};

const Alphabet &alphabet() {
    static const Alphabet a;
    return a;
}

} // namespace

const std::string &byte_level_char(uint8_t byte) { return alphabet().utf8[byte]; }

int byte_level_byte(uint32_t cp) {
    if (cp < 0x100) return shown_as_itself(int(cp)) ? int(cp) : -1;
    // The non-printable bytes take U+0100 + their rank among the non-printable bytes.
    int rank = int(cp - 0x100);
    for (int b = 0; b < 256; ++b)
        if (!shown_as_itself(b) && rank-- == 0) return b;
    return -1;
}

} // namespace llama
