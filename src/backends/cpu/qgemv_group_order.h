// Act-order layers for the small-M product: their g_idx is not non-decreasing, so a packed
// block of codes mixes groups and qgemv would have to dequantize every code with its own
// group's scale and zero. Instead the K axis is sorted by group once, on the layer's first
// product, into a private packed copy (kept in QLayer::device, released with the layer),
// each group padded to whole packed blocks; every call then gathers x into that order and
// runs the same group-uniform kernels as a natural-order layer.
#pragma once

#include "core/qlayer.h"

#include <cstdint>
#include <vector>

namespace gptq::cpu {

struct GroupOrderedLayer final : DeviceLayer {
    // K' codes in group order (group g's columns in increasing original k, then padding
    // codes 0 up to a whole block, so K' is whole blocks); g_idx non-decreasing.
    // K' <= K + n_groups * (codes per block - 1). Scales and zeros are left empty: they are
    // the source layer's, which the product reads (no second copy of them).
    QLayer layer;
    std::vector<int32_t> src_k;  // [K']: the source column of each position, -1 = padding
};

// Whether qgemv must reorder q (some g_idx[k + 1] < g_idx[k]).
bool needs_group_order(const QLayer &q);

// The group-ordered copy of q, built on the first call and cached in q.device (which must
// not hold another backend's copy at the same time: a layer belongs to one context).
// nullptr when q needs no reordering.
const GroupOrderedLayer *group_ordered(const QLayer &q);

// dst [m x K'] (row stride K') = x [m x K] (row stride ldx) in g's order, 0 for padding.
void gather_x(const GroupOrderedLayer &g, const float *x, int64_t m, int64_t ldx, float *dst);

} // namespace gptq::cpu
