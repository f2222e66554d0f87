#pragma once

#include <cmath>

namespace gptq {

// roundEven as PyTorch's torch.round: nearbyint under the default rounding mode.
inline int quantize_code(float x, GroupParams p, int maxq) {
    float q = std::nearbyint(x / p.scale) + p.zero;
    q = q < 0.0f ? 0.0f : (q > float(maxq) ? float(maxq) : q);
    return int(q);
}

inline float quantize_value(float x, GroupParams p, int maxq) {
    return p.scale * (float(quantize_code(x, p, maxq)) - p.zero);
}

} // namespace gptq
