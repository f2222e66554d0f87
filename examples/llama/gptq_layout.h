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

inline bool supported_bits(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

} // namespace llama
