// find_params of docs/gptq-reference.md §4, written to perform the same fp32 operations in the same order as
// the reference (PyTorch) quantizer, so scales, zeros and codes come out bit for bit.
#include "core/quantizer.h"

#include <cmath>
#include <limits>

namespace gptq {

namespace {

GroupParams params_from_range(float xmin, float xmax, float maxq, bool sym) {
    GroupParams p;
    p.scale = (xmax - xmin) / maxq;
    p.zero = sym ? (maxq + 1.0f) / 2.0f : std::nearbyint(-xmin / p.scale);
    return p;
}

// Sum over the slice of |quantize(x) - x|^norm. The reference sums fp32 terms; double
// accumulation is at least as close to the exact sum and only matters on near-ties.
double clip_error(const float *x, int64_t len, int64_t stride, GroupParams p, int maxq,
                  float norm) {
    double err = 0.0;
    for (int64_t i = 0; i < len; ++i) {
        const float v = x[i * stride];
        const float d = std::fabs(quantize_value(v, p, maxq) - v);
        err += double(std::pow(d, norm));
    }
    return err;
}

} // namespace

int mse_shrink_steps(const QuantOptions &opt) {
    // The small epsilon makes a float option like 0.7f count 70 steps as the decimal 0.7
    // does in Python (0.7f * 100 is 69.9999988 in double).
    return opt.mse ? int(std::floor(double(opt.mse_maxshrink) * opt.mse_grid + 1e-4)) : 0;
}

float mse_shrink_factor(const QuantOptions &opt, int step) {
    // p = 1 - i/grid; the reference computes p in double and PyTorch rounds the Python
    // scalar to fp32 before multiplying an fp32 tensor.
    return float(1.0 - double(step) / double(opt.mse_grid));
}

std::vector<float> mse_shrink_factors(const QuantOptions &opt) {
    std::vector<float> p(size_t(mse_shrink_steps(opt)));
    for (size_t i = 0; i < p.size(); ++i) p[i] = mse_shrink_factor(opt, int(i));
    return p;
}

GroupParams find_params(const float *x, int64_t len, int64_t stride, const QuantOptions &opt) {
    float xmin = 0.0f, xmax = 0.0f;  // the range always contains 0
    for (int64_t i = 0; i < len; ++i) {
        const float v = x[i * stride];
        xmin = v < xmin ? v : xmin;
        xmax = v > xmax ? v : xmax;
    }
    return find_params_in_range(x, len, stride, xmin, xmax, opt);
}

GroupParams find_params_in_range(const float *x, int64_t len, int64_t stride, float xmin,
                                 float xmax, const QuantOptions &opt) {
    const int maxq_i = opt.maxq();
    const float maxq = float(maxq_i);
    if (opt.sym) {
        xmax = std::fmax(std::fabs(xmin), xmax);
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    GroupParams best = params_from_range(xmin, xmax, maxq, opt.sym);
    if (!opt.mse) return best;

    const int steps = mse_shrink_steps(opt);
    double best_err = std::numeric_limits<double>::infinity();
    for (int i = 0; i < steps; ++i) {
        const float p = mse_shrink_factor(opt, i);
        GroupParams c = params_from_range(p * xmin, p * xmax, maxq, opt.sym);
        if (opt.sym) c.zero = best.zero;  // symmetric search keeps zero = (maxq+1)/2
        const double err = clip_error(x, len, stride, c, maxq_i, opt.mse_norm);
        if (err < best_err) {
            best_err = err;
            best = c;
        }
    }
    return best;
}

} // namespace gptq
