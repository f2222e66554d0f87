#include "core/pack.h"

#include <cstring>

namespace gptq {

int64_t packed_len(int64_t len, int bits) {
    if (bits == 3) return (len + 31) / 32 * 3;
    const int per = 32 / bits;
    return (len + per - 1) / per;
}

// Every width is a little-endian bit stream along the packed dimension: code i occupies
// bits [bits*i, bits*(i+1)) of the stream, words hold 32 consecutive stream bits. For 3 bits
// this yields exactly docs/gptq-reference.md's word0/word1/word2 layout (codes 10 and 21 straddle words).
static inline void put_code(int32_t *base, int64_t stride, int64_t i, int bits, uint32_t code) {
    const int64_t bit = i * bits;
    const int64_t w = bit / 32;
    const int off = int(bit % 32);
    uint32_t *word = reinterpret_cast<uint32_t *>(base + w * stride);
    *word |= code << off;
    if (off + bits > 32) {
        uint32_t *next = reinterpret_cast<uint32_t *>(base + (w + 1) * stride);
        *next |= code >> (32 - off);
    }
}

void pack_rows(const uint8_t *codes, int64_t len, int64_t cols, int bits, int32_t *out) {
    const int64_t rows = packed_len(len, bits);
    std::memset(out, 0, size_t(rows * cols) * sizeof(int32_t));
    for (int64_t i = 0; i < len; ++i)
        for (int64_t c = 0; c < cols; ++c) put_code(out + c, cols, i, bits, codes[i * cols + c]);
}

void unpack_rows(const int32_t *packed, int64_t len, int64_t cols, int bits, uint8_t *out) {
    for (int64_t i = 0; i < len; ++i)
        for (int64_t c = 0; c < cols; ++c)
            out[i * cols + c] = uint8_t(packed_code_at(packed + c, cols, i, bits));
}

void pack_cols(const uint8_t *codes, int64_t rows, int64_t len, int bits, int32_t *out) {
    const int64_t words = packed_len(len, bits);
    std::memset(out, 0, size_t(rows * words) * sizeof(int32_t));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < len; ++i) put_code(out + r * words, 1, i, bits, codes[r * len + i]);
}

void unpack_cols(const int32_t *packed, int64_t rows, int64_t len, int bits, uint8_t *out) {
    const int64_t words = packed_len(len, bits);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < len; ++i)
            out[r * len + i] = uint8_t(packed_code_at(packed + r * words, 1, i, bits));
}

} // namespace gptq
