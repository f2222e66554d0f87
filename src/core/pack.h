// GPTQ checkpoint packing (docs/gptq-reference.md §5): codes along K into int32 qweight words, zero points
// along N into qzeros words; 2/4/8 bits pack 32/b codes per word, 3 bits pack 32 codes
// into 3 words with codes straddling word boundaries.
#pragma once

#include <cstdint>
#include <vector>

namespace gptq {

// Rows of qweight (packed along K) / columns of qzeros (packed along N) for `len` codes.
// Rounded up; padding codes are 0.
int64_t packed_len(int64_t len, int bits);

// codes: `len` codes per column, row-major [len][cols] (i.e. code (i, c) at codes[i*cols+c]).
// out: [packed_len(len, bits)][cols]. Packs along the first dimension.
void pack_rows(const uint8_t *codes, int64_t len, int64_t cols, int bits, int32_t *out);
// Inverse of pack_rows: out [len][cols].
void unpack_rows(const int32_t *packed, int64_t len, int64_t cols, int bits, uint8_t *out);

// Packs along the second dimension: codes [rows][len] -> out [rows][packed_len(len, bits)].
void pack_cols(const uint8_t *codes, int64_t rows, int64_t len, int bits, int32_t *out);
void unpack_cols(const int32_t *packed, int64_t rows, int64_t len, int bits, uint8_t *out);

// Code at index i (along the packed dimension) of one packed column/row, reading words
// word(j) = base[j * stride].
inline uint32_t packed_code_at(const int32_t *base, int64_t stride, int64_t i, int bits) {
    if (bits != 3) {
        const int per = 32 / bits;
        const uint32_t word = uint32_t(base[(i / per) * stride]);
        return (word >> (bits * (i % per))) & ((1u << bits) - 1u);
    }
    const int64_t bit = (i / 32) * 96 + (i % 32) * 3;  // bit offset in the 3-word run
    const int64_t w = bit / 32;
    const int off = int(bit % 32);
    uint64_t v = uint32_t(base[w * stride]);
    if (off > 29) v |= uint64_t(uint32_t(base[(w + 1) * stride])) << 32;
    return uint32_t(v >> off) & 7u;
}

} // namespace gptq
