// The GPTQ quantizer (docs/gptq-reference.md §4) and the in-block part of the column loop (docs/gptq-reference.md §3) on the
// device. Rows of W are independent inside a block (each row only ever reads its own
// weights and the shared factor U), so one thread owns one output row and walks the
// block's columns in order, exactly as the reference does for all rows at once. W is kept
// transposed ([k][n]) so that neighbouring threads touch neighbouring addresses.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"

namespace gptq::cuda {
namespace {

struct Params {
    float scale;
    float zero;
};

// roundEven, like torch.round: rintf rounds half to even under the default mode.
__device__ float quantize_value(float x, Params p, int maxq) {
    float q = rintf(x / p.scale) + p.zero;
    q = fminf(fmaxf(q, 0.0f), float(maxq));
    return p.scale * (q - p.zero);
}

__device__ int quantize_code(float x, Params p, int maxq) {
    const float q = rintf(x / p.scale) + p.zero;
    return int(fminf(fmaxf(q, 0.0f), float(maxq)));
}

__device__ Params params_from_range(float xmin, float xmax, const QuantizerConfig &c) {
    Params p;
    p.scale = (xmax - xmin) / float(c.maxq);
    p.zero = c.sym ? float((c.maxq + 1) / 2) : rintf(-xmin / p.scale);
    return p;
}

// Spec §4 for the slice x[i * stride], i < len.
__device__ Params find_params(const float *x, int64_t len, int64_t stride,
                             const QuantizerConfig &c) {
    float xmin = 0.0f, xmax = 0.0f;  // the range always contains 0
    for (int64_t i = 0; i < len; ++i) {
        const float v = x[i * stride];
        xmin = fminf(xmin, v);
        xmax = fmaxf(xmax, v);
    }
    if (c.sym) {
        xmax = fmaxf(fabsf(xmin), xmax);
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    Params best = params_from_range(xmin, xmax, c);
    if (!c.mse) return best;

    float best_err = INFINITY;
    for (int s = 0; s < c.mse_steps; ++s) {
        const float shrink = c.mse_shrink[s];  // core's table (core/quantizer.h)
        Params p = params_from_range(shrink * xmin, shrink * xmax, c);
        if (c.sym) p.zero = best.zero;  // symmetric: the zero point never moves
        float err = 0.0f;
        for (int64_t i = 0; i < len; ++i) {
            const float v = x[i * stride];
            err += powf(fabsf(quantize_value(v, p, c.maxq) - v), c.mse_norm);
        }
        if (err < best_err) {
            best_err = err;
            best = p;
        }
    }
    return best;
}

__global__ void group_params_kernel(const float *wt, int64_t n, int64_t k, int64_t group_cols,
                                    int64_t n_groups, QuantizerConfig cfg, float *scales,
                                    float *zeros) {
    const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (r >= n) return;
    for (int64_t g = blockIdx.y; g < n_groups; g += gridDim.y) {  // grid.y is capped
        const int64_t c0 = g * group_cols;
        const int64_t len = k - c0 < group_cols ? k - c0 : group_cols;
        const Params p = find_params(wt + c0 * n + r, len, n, cfg);
        scales[g * n + r] = p.scale;
        zeros[g * n + r] = p.zero;
    }
}

__global__ void quantize_block_kernel(BlockArgs a) {
    const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (r >= a.n) return;
    const int64_t n = a.n, k = a.k, width = a.i2 - a.i1;
    double loss = 0.0;
    for (int64_t i = 0; i < width; ++i) {
        const int64_t col = a.i1 + i;
        const int64_t g = a.group_of[col];  // parameters already found by the driver's order
        const Params p{a.scales[g * n + r], a.zeros[g * n + r]};
        const float w = a.w1[i * n + r];
        const float d = a.u[col * k + col];
        const float q = quantize_value(w, p, a.maxq);
        a.codes[col * n + r] = uint8_t(quantize_code(w, p, a.maxq));
        const float diff = w - q;
        const float err = diff / d;
        const float *urow = a.u + col * k + a.i1;
        for (int64_t j = i + 1; j < width; ++j) a.w1[j * n + r] -= err * urow[j];
        a.err1[i * n + r] = err;
        loss += double(diff * diff / (d * d) / 2.0f);
    }
    a.loss[r] += loss;
}

constexpr int kThreads = 128;

} // namespace

void find_group_params(const float *wt, int64_t n, int64_t k, int64_t group_cols,
                       int64_t n_groups, const QuantizerConfig &cfg, float *scales,
                       float *zeros) {
    const int64_t gy = n_groups < 65535 ? n_groups : 65535;  // CUDA's limit on grid.y
    const dim3 grid(unsigned((n + kThreads - 1) / kThreads), unsigned(gy));
    group_params_kernel<<<grid, kThreads>>>(wt, n, k, group_cols, n_groups, cfg, scales, zeros);
    check_launch("quantizer parameter kernel");
}

void quantize_block(const BlockArgs &args) {
    const unsigned grid = unsigned((args.n + kThreads - 1) / kThreads);
    quantize_block_kernel<<<grid, kThreads>>>(args);
    check_launch("GPTQ block kernel");
}

} // namespace gptq::cuda
