// The internal representation behind gptq_qlayer: packed codes in checkpoint layout plus
// fp32 scales and true zero points, and an optional backend-owned device copy.
#pragma once

#include <gptq/gptq.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace gptq {

// A backend's resident copy of a layer (device buffers). Created lazily by the backend on
// first use and released with the layer.
class DeviceLayer {
public:
    virtual ~DeviceLayer() = default;
};

struct QLayer {
    int64_t n = 0, k = 0;
    int bits = 4;
    int group_size = 128;  // as given: -1 or >= 1
    int64_t group_cols = 0; // effective G (k when group_size == -1)
    int64_t n_groups = 0;
    bool sym = false, desc_act = false, static_groups = false;

    std::vector<int32_t> qweight;  // [qweight_rows(k, bits)][n], GPTQ layout
    std::vector<float> scales;     // [n_groups][n]
    std::vector<int32_t> zeros;    // [n_groups][n], true zero points 0..maxq (maxq + 1
                                   // only in layers imported from asymmetric v1 files)
    std::vector<int32_t> g_idx;    // [k]
    std::vector<int32_t> perm;     // [k]; identity without act-order

    // Backend-owned device copy; the owning backend casts it to its own type.
    mutable std::unique_ptr<DeviceLayer> device;
    mutable const void *device_owner = nullptr;  // Backend* that made `device`
};

} // namespace gptq
