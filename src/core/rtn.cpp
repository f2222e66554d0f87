#include "core/rtn.h"

#include "core/quantizer.h"

#include <algorithm>
#include <numeric>

namespace gptq {

QuantResult rtn_quantize(const QuantOptions &opt, const float *w, int64_t n, int64_t k) {
    QuantResult r;
    r.n = n;
    r.k = k;
    r.n_groups = opt.n_groups(k);
    const int64_t G = opt.group_cols(k);
    const int maxq = opt.maxq();
    r.codes.resize(size_t(n * k));
    r.scales.resize(size_t(r.n_groups * n));
    r.zeros.resize(size_t(r.n_groups * n));
    r.g_idx.resize(size_t(k));
    r.perm.resize(size_t(k));
    std::iota(r.perm.begin(), r.perm.end(), 0);
    for (int64_t j = 0; j < k; ++j) r.g_idx[size_t(j)] = int32_t(j / G);
    for (int64_t i = 0; i < n; ++i) {
        const float *row = w + i * k;
        for (int64_t g = 0; g < r.n_groups; ++g) {
            const int64_t c0 = g * G, c1 = std::min(k, c0 + G);
            const GroupParams p = find_params(row + c0, c1 - c0, 1, opt);
            r.scales[size_t(g * n + i)] = p.scale;
            r.zeros[size_t(g * n + i)] = zero_point_int(p.zero);
            for (int64_t j = c0; j < c1; ++j)
                r.codes[size_t(i * k + j)] = uint8_t(quantize_code(row[j], p, maxq));
        }
    }
    return r;
}

} // namespace gptq
