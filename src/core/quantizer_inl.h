#pragma once

#include <cmath>

namespace gptq {

// roundEven as PyTorch's torch.round: nearbyint under the default rounding mode.
inline int quantize_code(float x, GroupParams p, int maxq) {
    float q = std::nearbyint(x / p.scale) + p.zero;
    // Written so that a NaN (a degenerate scale, refused later with a clear status) lands
    // on 0 instead of reaching an undefined float-to-int conversion.
    q = q > 0.0f ? q : 0.0f;
    q = q < float(maxq) ? q : float(maxq);
    return int(q);
}

inline float quantize_value(float x, GroupParams p, int maxq) {
    return p.scale * (float(quantize_code(x, p, maxq)) - p.zero);
}

} // namespace gptq
