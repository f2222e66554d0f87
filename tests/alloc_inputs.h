// The inputs every allocation-sweep case shares: shapes, activations, weights, Hessians.
// Part of test_alloc_failures.cpp, which includes it once: like the rest of that program it
// lives in an anonymous namespace.
#pragma once

#include "alloc_sweep.h"
#include "test_common.h"

#include <gptq/gptq.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace alloc_sweep;

using namespace alloc_sweep;

// Shapes chosen to reach the multi-block paths: K = 256 gives two 128-row blocks of H in the
// CPU Hessian update; TB = 300 tokens makes F16 batches convert in two chunks; N = 80 rows
// are two chunks of the report's output-error metric.
constexpr int64_t K = 256, N = 80, TA = 64, TB = 300, MX = 64;
// Token count given to gptq_hessian_set: not a power of two, so undoing its 2/n scale is not
// exact in fp32 and a half-done add would show.
constexpr int64_t kSetTokens = 100;
// Tokens already in the Hessian before the add under test: so few that the CPU GEMM runs
// that first add on the calling thread, and the workers' scratch is still to be allocated
// when the armed add starts.
constexpr int64_t kPriorTokens = 8;

struct Inputs {
    std::vector<float> xa, xb, w, x, hset, hset2;
    std::vector<uint16_t> xb16, x16;
} g;

gptq_matrix f32_matrix(const std::vector<float> &v, int64_t rows, int64_t cols) {
    return tc_matrix_f32(v.data(), rows, cols, 0);
}

gptq_matrix f16_matrix(const std::vector<uint16_t> &v, int64_t rows, int64_t cols) {
    gptq_matrix m;
    m.data = v.data();
    m.dtype = GPTQ_DTYPE_F16;
    m.rows = rows;
    m.cols = cols;
    m.row_stride = 0;
    return m;
}


Hessian make_hessian(gptq_ctx *ctx) {
    gptq_hessian *h = nullptr;
    EXPECT_OK(ctx, gptq_hessian_create(ctx, K, &h));
    return Hessian(h);
}

std::vector<float> hessian_get(gptq_hessian *h, gptq_ctx *ctx) {
    std::vector<float> out(size_t(K * K));
    EXPECT_OK(ctx, gptq_hessian_get(h, out.data(), out.size()));
    return out;
}

// Adds xa then xb: the Hessian the quantization cases use.
Hessian calibrated_hessian(gptq_ctx *ctx) {
    Hessian h = make_hessian(ctx);
    const gptq_matrix xa = f32_matrix(g.xa, TA, K), xb = f32_matrix(g.xb, TB, K);
    EXPECT_OK(ctx, gptq_hessian_add(h.get(), &xa));
    EXPECT_OK(ctx, gptq_hessian_add(h.get(), &xb));
    return h;
}

} // namespace
