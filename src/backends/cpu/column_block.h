// GPTQ's in-block column loop for 16 rows of W at once, one row per AVX-512 lane. The loop is
// a chain from column to column within a row, so the scalar path is latency-bound; across
// rows it is independent, and lanes do exactly the scalar path's operations (same order,
// separate multiply and subtract, same quantizer rounding), so either path gives
// bit-identical codes, errors and losses.
#pragma once

#include <cstdint>

namespace gptq::cpu {

struct ColumnBlockArgs {
    float *w;                  // W [n x k], permuted; errors are stored back into it
    int64_t n, k;
    const float *u;            // U (row stride k), the upper inverse factor
    const int32_t *group_of;   // group of each permuted column
    const float *scales;       // [group][n]
    const int32_t *zeros;      // [group][n]
    uint8_t *codes;            // [n][k], permuted column order
    int maxq;
};

constexpr int64_t kColumnBlockRows = 16;

// True when this CPU (and build) runs column_block_x16.
bool column_block_x16_available();

// Block [i1, i2) for rows [r0, r0 + 16): quantizes column by column with in-block error
// feedback, stores codes and each column's error into W (as the scalar path does) and adds
// each row's loss to loss[0..16). t: 16 * (i2 - i1) floats of scratch, c: as many bytes.
void column_block_x16(const ColumnBlockArgs &a, int64_t i1, int64_t i2, int64_t r0, float *t,
                      uint8_t *c, double *loss);

} // namespace gptq::cpu
