// Shapes of GPTQ checkpoint tensors (docs/gptq-reference.md §5), needed to validate files before handing their
// arrays to gptq_qlayer_from_packed (which takes bare pointers).
#pragma once

#include <cstdint>

namespace llama {

// Words for `len` codes packed along one dimension: 32/b codes a word for b = 2, 4, 8;
// 32 codes in 3 words for b = 3. Rounded up (padding codes are 0), like libgptq.
inline int64_t packed_len(int64_t len, int bits) {
    if (bits == 3) return (len + 31) / 32 * 3;
    const int per = 32 / bits;
    return (len + per - 1) / per;
}

inline int64_t group_count(int64_t k, int group_size) {
    return group_size <= 0 ? 1 : (k + group_size - 1) / group_size;
}

// Code i of one packed row (`row` holds packed_len(i + 1, bits) words or more). The codes
// form one little-endian bit stream for every width, 3 bits included (a code may straddle
// two words).
inline uint32_t packed_code(const int32_t *row, int64_t i, int bits) {
    const int64_t bit = i * bits;
    uint64_t v = uint32_t(row[bit / 32]);
    if (bit % 32 + bits > 32) v |= uint64_t(uint32_t(row[bit / 32 + 1])) << 32;
    return uint32_t(v >> (bit % 32)) & ((1u << bits) - 1u);
}

inline bool supported_bits(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

} // namespace llama
