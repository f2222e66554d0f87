#include "api/validate.h"

#include "core/error.h"
#include "core/half.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace gptq {

void require_non_null(const void *p, const char *name) {
    if (!p) fail(GPTQ_ERR_INVALID_ARGUMENT, "%s is NULL", name);
}

int64_t check_matrix(const gptq_matrix *m, const char *name) {
    require_non_null(m, name);
    const int dtype = enum_value(m->dtype);
    if (dtype != GPTQ_DTYPE_F32 && dtype != GPTQ_DTYPE_F16 && dtype != GPTQ_DTYPE_BF16)
        fail(GPTQ_ERR_UNSUPPORTED, "%s: dtype %d is not F32, F16 or BF16", name, dtype);
    if (m->rows <= 0 || m->cols <= 0)
        fail(GPTQ_ERR_SHAPE, "%s: shape [%lld x %lld] must have positive dimensions", name,
             (long long)m->rows, (long long)m->cols);
    const int64_t ld = m->row_stride == 0 ? m->cols : m->row_stride;
    if (ld < m->cols)
        fail(GPTQ_ERR_SHAPE, "%s: row_stride %lld is smaller than cols %lld", name,
             (long long)m->row_stride, (long long)m->cols);
    // Largest element offset must be addressable in bytes without overflow.
    const int64_t limit = INT64_MAX / 4;
    if (m->rows > limit / ld)
        fail(GPTQ_ERR_SHAPE, "%s: shape [%lld x %lld] with row_stride %lld is too large", name,
             (long long)m->rows, (long long)m->cols, (long long)ld);
    if (!m->data) fail(GPTQ_ERR_INVALID_ARGUMENT, "%s->data is NULL", name);
    return ld;
}

float element_f32(const void *data, gptq_dtype dtype, int64_t i) {
    switch (dtype) {
    case GPTQ_DTYPE_F32: return static_cast<const float *>(data)[i];
    case GPTQ_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t *>(data)[i]);
    case GPTQ_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t *>(data)[i]);
    }
    return NAN;
}

static void non_finite_at(const char *name, int64_t r, int64_t c, float v) {
    fail(GPTQ_ERR_NON_FINITE, "%s: non-finite value %g at row %lld, column %lld", name, v,
         (long long)r, (long long)c);
}

void require_finite(const gptq_matrix *m, const char *name) {
    const int64_t ld = check_matrix(m, name);
    for (int64_t r = 0; r < m->rows; ++r) {
        if (m->dtype == GPTQ_DTYPE_F32) {
            const float *row = static_cast<const float *>(m->data) + r * ld;
            for (int64_t c = 0; c < m->cols; ++c)
                if (!std::isfinite(row[c])) non_finite_at(name, r, c, row[c]);
        } else {
            // Half formats: all-ones exponent means Inf/NaN.
            const uint16_t *row = static_cast<const uint16_t *>(m->data) + r * ld;
            const uint16_t mask = m->dtype == GPTQ_DTYPE_F16 ? 0x7c00u : 0x7f80u;
            for (int64_t c = 0; c < m->cols; ++c)
                if ((row[c] & mask) == mask)
                    non_finite_at(name, r, c, element_f32(row, m->dtype, c));
        }
    }
}

void require_finite(const float *p, int64_t count, const char *name) {
    for (int64_t i = 0; i < count; ++i)
        if (!std::isfinite(p[i]))
            fail(GPTQ_ERR_NON_FINITE, "%s: non-finite value %g at element %lld", name, p[i],
                 (long long)i);
}

namespace {

// An all-ones exponent: Inf or NaN. Integer bit tests OR-ed over a row vectorise (a float
// reduction would not, its order being fixed).
inline uint32_t non_finite_bit(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return uint32_t((bits & 0x7f800000u) == 0x7f800000u);
}

// Elements [c0, c0 + n) of row r of a half-precision m, as fp32, into dst; the format's loop
// is chosen outside it.
void half_row_to_f32(const gptq_matrix *m, int64_t ld, int64_t r, int64_t c0, int64_t n,
                     float *dst) {
    const uint16_t *src = static_cast<const uint16_t *>(m->data) + r * ld + c0;
    if (m->dtype == GPTQ_DTYPE_F16)
        for (int64_t c = 0; c < n; ++c) dst[c] = f16_to_f32(src[c]);
    else
        for (int64_t c = 0; c < n; ++c) dst[c] = bf16_to_f32(src[c]);
}

// Up to kScanChunk elements of row r of m as fp32 (a view of F32 data, else converted).
constexpr int64_t kScanChunk = 512;
const float *row_chunk_f32(const gptq_matrix *m, int64_t ld, int64_t r, int64_t c0, int64_t n,
                           float *buf) {
    if (m->dtype == GPTQ_DTYPE_F32) return static_cast<const float *>(m->data) + r * ld + c0;
    half_row_to_f32(m, ld, r, c0, n, buf);
    return buf;
}

// Eight independent lanes (max |v|, sum of v^2 in double, an Inf/NaN flag) so the loop
// vectorises without reassociating anything: the result is the same on every machine.
struct Lanes {
    float max_abs[8] = {};
    double sum_sq[8] = {};
    uint32_t non_finite[8] = {};

    void add(const float *v, int64_t n) {
        int64_t c = 0;
        for (; c + 8 <= n; c += 8)
            for (int l = 0; l < 8; ++l) take(l, v[c + l]);
        for (int l = 0; c < n; ++c, ++l) take(l, v[c]);
    }
    void take(int l, float v) {
        non_finite[l] |= non_finite_bit(v);
        const float a = std::fabs(v);
        max_abs[l] = a > max_abs[l] ? a : max_abs[l];
        sum_sq[l] += double(v) * double(v);
    }
};

} // namespace

SquareSums square_sums(const gptq_matrix *x, const char *name) {
    const int64_t ld = check_matrix(x, name);
    SquareSums s;
    float buf[kScanChunk];
    for (int64_t r = 0; r < x->rows; ++r) {
        Lanes lanes;
        for (int64_t c0 = 0; c0 < x->cols; c0 += kScanChunk) {
            const int64_t n = std::min(kScanChunk, x->cols - c0);
            lanes.add(row_chunk_f32(x, ld, r, c0, n, buf), n);
        }
        float row_max = 0.0f;
        uint32_t bad = 0;
        for (int l = 0; l < 8; ++l) {
            bad |= lanes.non_finite[l];
            row_max = std::fmax(row_max, lanes.max_abs[l]);
            s.trace += lanes.sum_sq[l];
        }
        if (bad) require_finite(x, name);  // names the first non-finite element
        // The square of a float is exact in double: the same bound as squaring every element.
        s.max_bound += double(row_max) * double(row_max);
        s.max_abs = std::fmax(s.max_abs, double(row_max));
    }
    return s;
}

BigVector<float> to_f32(const gptq_matrix *m, const char *name) {
    const int64_t ld = check_matrix(m, name);
    BigVector<float> out(size_t(m->rows * m->cols));
    // One pass per row (a layer is tens of MB): the copy or conversion, then an Inf/NaN test
    // of the converted values; the slow search for the first bad element only runs if there
    // is one.
    bool finite = true;
    for (int64_t r = 0; r < m->rows && finite; ++r) {
        float *dst = out.data() + r * m->cols;
        const int64_t n = m->cols;
        if (m->dtype == GPTQ_DTYPE_F32) {
            const float *src = static_cast<const float *>(m->data) + r * ld;
            std::copy(src, src + n, dst);
        } else {
            half_row_to_f32(m, ld, r, 0, n, dst);
        }
        uint32_t non_finite = 0;
        for (int64_t c = 0; c < n; ++c) non_finite |= non_finite_bit(dst[c]);
        finite = non_finite == 0;
    }
    if (!finite) require_finite(m, name);  // names the first non-finite element
    return out;
}

void require_count(size_t count, int64_t needed, const char *name) {
    if (needed < 0 || count < size_t(needed))
        fail(GPTQ_ERR_SHAPE, "%s: count %zu is too small, %lld elements are needed", name, count,
             (long long)needed);
}

} // namespace gptq
