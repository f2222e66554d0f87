#include "core/layer_build.h"

#include "core/error.h"
#include "core/pack.h"

#include <cmath>

namespace gptq {

namespace {

// A layer is only returned when every weight it stands for is finite: scale * (code - zero)
// with |code - zero| <= maxq. Weights spanning more than fp32 make the scale overflow; a
// group whose weights are all subnormal makes it underflow to 0 (and the zero point NaN).
void check_scales(const QuantOptions &opt, const std::vector<float> &scales, int64_t n) {
    const float maxq = float(opt.maxq());
    for (size_t i = 0; i < scales.size(); ++i) {
        const float s = scales[i];
        const long long row = (long long)(int64_t(i) % n), group = (long long)(int64_t(i) / n);
        if (!std::isfinite(s) || !std::isfinite(s * maxq))
            fail(GPTQ_ERR_NON_FINITE,
                 "%s: the scale of output row %lld, group %lld overflows fp32: its weights "
                 "span more than fp32 can represent after dividing by %d levels",
                 opt.layer_label().c_str(), row, group, opt.maxq());
        if (!(s > 0.0f))
            fail(GPTQ_ERR_INVALID_ARGUMENT,
                 "%s: the scale of output row %lld, group %lld underflows to 0: all its "
                 "weights lie within fp32's subnormal range of zero; flush such weights to 0",
                 opt.layer_label().c_str(), row, group);
    }
}

} // namespace

QLayer qlayer_from_result(const QuantOptions &opt, QuantResult &&r) {
    const int64_t n = r.n, k = r.k;
    const int64_t G = opt.group_cols(k);
    const int64_t n_groups = opt.n_groups(k);
    const int maxq = opt.maxq();
    const bool packed = !r.qweight.empty();
    if (r.n_groups != n_groups ||
        (packed ? int64_t(r.qweight.size()) != packed_len(k, opt.bits) * n
                : int64_t(r.codes.size()) != n * k) ||
        int64_t(r.scales.size()) != n_groups * n || int64_t(r.zeros.size()) != n_groups * n ||
        int64_t(r.g_idx.size()) != k || int64_t(r.perm.size()) != k)
        fail(GPTQ_ERR_INTERNAL, "%s: backend returned inconsistent result sizes",
             opt.layer_label().c_str());
    check_scales(opt, r.scales, n);
    for (uint8_t c : r.codes)
        if (c > maxq) fail(GPTQ_ERR_INTERNAL, "%s: backend returned a code out of range",
                           opt.layer_label().c_str());
    for (int32_t z : r.zeros)
        if (z < 0 || z > maxq)
            fail(GPTQ_ERR_INTERNAL, "%s: backend returned a zero point out of range",
                 opt.layer_label().c_str());
    for (int32_t g : r.g_idx)
        if (g < 0 || g >= n_groups)
            fail(GPTQ_ERR_INTERNAL, "%s: backend returned a g_idx out of range",
                 opt.layer_label().c_str());

    QLayer q;
    q.n = n;
    q.k = k;
    q.bits = opt.bits;
    q.group_size = opt.group_size;
    q.group_cols = G;
    q.n_groups = n_groups;
    q.sym = opt.sym;
    q.desc_act = opt.desc_act;
    q.static_groups = opt.static_groups;
    if (packed) {
        q.qweight = std::move(r.qweight);
    } else {
        // qweight packs along K: transpose [n][k] codes to [k][n] first.
        std::vector<uint8_t> t(size_t(n * k));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < k; ++j) t[size_t(j * n + i)] = r.codes[size_t(i * k + j)];
        std::vector<uint8_t>().swap(r.codes);
        q.qweight.resize(size_t(packed_len(k, opt.bits) * n));
        pack_rows(t.data(), k, n, opt.bits, q.qweight.data());
    }
    q.scales = std::move(r.scales);
    q.zeros = std::move(r.zeros);
    q.g_idx = std::move(r.g_idx);
    q.perm = std::move(r.perm);
    return q;
}

void dequantize_row(const QLayer &q, int64_t n, float *dst) {
    for (int64_t j = 0; j < q.k; ++j) {
        const int64_t g = q.g_idx[size_t(j)];
        const float s = q.scales[size_t(g * q.n + n)];
        const int z = q.zeros[size_t(g * q.n + n)];
        const int code = int(packed_code_at(q.qweight.data() + n, q.n, j, q.bits));
        dst[j] = s * float(code - z);
    }
}

} // namespace gptq
