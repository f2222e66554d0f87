// GPT-2's byte-level alphabet: every byte is shown as a printable character (printable ASCII
// and Latin-1 bytes as themselves, the other 68 as U+0100 onwards), so byte-level BPE
// vocabularies hold only printable strings. The map is computed from that rule.
#pragma once

#include <cstdint>
#include <string>

namespace llama {

// UTF-8 of the character standing for `byte`.
const std::string &byte_level_char(uint8_t byte);

// The byte a character stands for, or -1 when the character is not in the alphabet.
int byte_level_byte(uint32_t codepoint);

} // namespace llama
