#include "backends/cpu/qgemv_group_order.h"

#include "core/pack.h"

#include <algorithm>
#include <memory>

namespace gptq::cpu {

namespace {

// Marks the device slot as this file's cache (any other backend's owner differs).
constexpr char kOwnerTag = 0;

int64_t block_codes(int bits) { return bits == 3 ? 32 : 32 / bits; }

std::unique_ptr<GroupOrderedLayer> build(const QLayer &q) {
    auto out = std::make_unique<GroupOrderedLayer>();
    const int64_t per = block_codes(q.bits);
    // Columns of each group in increasing k (a counting sort keeps the order within a group,
    // so the gather of x walks forward), each group padded to a multiple of `per`.
    std::vector<int64_t> count(size_t(q.n_groups), 0);
    for (int32_t g : q.g_idx) ++count[size_t(g)];
    std::vector<int64_t> start(size_t(q.n_groups) + 1, 0);
    for (int64_t g = 0; g < q.n_groups; ++g)
        start[size_t(g) + 1] = start[size_t(g)] + (count[size_t(g)] + per - 1) / per * per;
    const int64_t kp = start[size_t(q.n_groups)];
    out->src_k.assign(size_t(kp), -1);
    std::vector<int32_t> g_idx(static_cast<size_t>(kp));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t k = 0; k < q.k; ++k) {
        const size_t g = size_t(q.g_idx[size_t(k)]);
        out->src_k[size_t(fill[g]++)] = int32_t(k);
    }
    for (int64_t g = 0; g < q.n_groups; ++g)
        std::fill(g_idx.begin() + start[size_t(g)], g_idx.begin() + start[size_t(g) + 1],
                  int32_t(g));

    QLayer &l = out->layer;
    l.n = q.n, l.k = kp, l.bits = q.bits, l.group_size = q.group_size;
    l.group_cols = q.group_cols, l.n_groups = q.n_groups;
    l.sym = q.sym, l.desc_act = q.desc_act, l.static_groups = q.static_groups;
    l.g_idx = std::move(g_idx);
    l.perm.resize(size_t(kp));
    for (int64_t j = 0; j < kp; ++j) l.perm[size_t(j)] = int32_t(j);
    const int64_t rows_per_block = packed_len(per, q.bits);
    l.qweight.assign(size_t(packed_len(kp, q.bits) * q.n), 0);
    std::vector<uint8_t> block(size_t(per * q.n));  // one block of reordered codes, [per][n]
    for (int64_t b = 0; b < kp / per; ++b) {
        for (int64_t i = 0; i < per; ++i) {
            const int32_t k = out->src_k[size_t(b * per + i)];
            uint8_t *dst = block.data() + i * q.n;
            if (k < 0) std::fill(dst, dst + q.n, uint8_t(0));
            else
                for (int64_t c = 0; c < q.n; ++c)
                    dst[c] = uint8_t(packed_code_at(q.qweight.data() + c, q.n, k, q.bits));
        }
        pack_rows(block.data(), per, q.n, q.bits, l.qweight.data() + b * rows_per_block * q.n);
    }
    return out;
}

} // namespace

bool needs_group_order(const QLayer &q) {
    for (int64_t k = 1; k < q.k; ++k)
        if (q.g_idx[size_t(k)] < q.g_idx[size_t(k - 1)]) return true;
    return false;
}

const GroupOrderedLayer *group_ordered(const QLayer &q) {
    if (const auto *cached = dynamic_cast<const GroupOrderedLayer *>(q.device.get()))
        if (q.device_owner == &kOwnerTag) return cached;
    if (!needs_group_order(q)) return nullptr;
    std::unique_ptr<GroupOrderedLayer> built = build(q);
    q.device = std::move(built);
    q.device_owner = &kOwnerTag;
    return static_cast<const GroupOrderedLayer *>(q.device.get());
}

void gather_x(const GroupOrderedLayer &g, const float *x, int64_t m, int64_t ldx, float *dst) {
    const int64_t kp = g.layer.k;
    for (int64_t r = 0; r < m; ++r) {
        const float *xr = x + r * ldx;
        float *d = dst + r * kp;
        for (int64_t j = 0; j < kp; ++j) {
            const int32_t k = g.src_k[size_t(j)];
            d[j] = k >= 0 ? xr[k] : 0.0f;
        }
    }
}

} // namespace gptq::cpu
