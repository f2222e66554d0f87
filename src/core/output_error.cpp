#include "core/output_error.h"

#include "core/layer_build.h"

namespace gptq {

void output_error_rows(const QLayer &q, const float *w, int64_t r0, int64_t rows, float *dst) {
    const int64_t k = q.k;
    for (int64_t r = 0; r < rows; ++r) {
        float *d = dst + r * k;
        const float *wr = w + (r0 + r) * k;
        dequantize_row(q, r0 + r, d);
        for (int64_t j = 0; j < k; ++j) d[j] = wr[j] - d[j];
    }
}

double frobenius_dot(const float *a, const float *b, int64_t k) {
    double s = 0.0;
    for (int64_t i = 0; i < k * k; ++i) s += double(a[i]) * double(b[i]);
    return s;
}

} // namespace gptq
