// Converting activation rows (F32/F16/BF16 with a row stride) to contiguous fp32.
#pragma once

#include "core/half.h"

#include <gptq/gptq.h>

#include <cstdint>
#include <cstring>

namespace gptq::cpu {

// dst [rows x cols] (row stride ldd) = rows [row0, row0 + rows) of x (row stride ld).
inline void rows_to_f32(const void *x, gptq_dtype dtype, int64_t ld, int64_t row0, int64_t rows,
                        int64_t cols, float *dst, int64_t ldd) {
    for (int64_t r = 0; r < rows; ++r) {
        float *d = dst + r * ldd;
        const int64_t off = (row0 + r) * ld;
        switch (dtype) {
        case GPTQ_DTYPE_F32:
            std::memcpy(d, static_cast<const float *>(x) + off, size_t(cols) * sizeof(float));
            break;
        case GPTQ_DTYPE_F16: {
            const uint16_t *s = static_cast<const uint16_t *>(x) + off;
            for (int64_t c = 0; c < cols; ++c) d[c] = f16_to_f32(s[c]);
            break;
        }
        case GPTQ_DTYPE_BF16: {
            const uint16_t *s = static_cast<const uint16_t *>(x) + off;
            for (int64_t c = 0; c < cols; ++c) d[c] = bf16_to_f32(s[c]);
            break;
        }
        }
    }
}

} // namespace gptq::cpu
