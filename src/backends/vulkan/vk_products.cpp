#include "backends/vulkan/vk_products.h"

#include "backends/vulkan/vk_push_constants.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace gptq::vk {

namespace {

// The measurement: a Hessian sum of this many zero tokens and columns (about 0.13 GFLOP:
// tens of milliseconds on lavapipe, well under one on a GPU), each family twice, the best
// time of each counted, once per context.
constexpr uint32_t kProbeTokens = 256;
constexpr uint32_t kProbeCols = 512;
// How much faster the tiled family must measure to be chosen over *_bcast.
constexpr double kTiledMargin = 1.5;

double time_hessian_sum(Context &ctx, bool bcast, const Buffer &x, const Buffer &sum) {
    double best = std::numeric_limits<double>::infinity();
    for (int rep = 0; rep < 2; ++rep) {
        Recorder rec(ctx);
        const auto t0 = std::chrono::steady_clock::now();
        record_hessian_sum(rec, ctx, bcast, x, sum, GPTQ_X_F32, kProbeTokens, kProbeCols, 0);
        rec.submit();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

} // namespace

bool use_bcast_products(Context &ctx) {
    if (!ctx.pipelines.has(Kernel::HessianBcast)) return false;
    if (ctx.products != Context::Products::Auto) return ctx.products == Context::Products::Bcast;
    const uint64_t probe_bytes = uint64_t(kProbeCols) * std::max(kProbeTokens, kProbeCols) * 4;
    if (ctx.products_choice == Context::Products::Auto && probe_bytes > ctx.device.max_storage_range() &&
        !ctx.device.has_buffer_address()) {
        // A device (or a test's lowered limit) that cannot reach the probe: no measurement.
        ctx.products_choice = Context::Products::Bcast;
    }
    if (ctx.products_choice == Context::Products::Auto) {
        Buffer x(ctx.device, size_t(kProbeTokens) * kProbeCols * 4, Buffer::DeviceLocal,
                 "the kernel probe's activations");
        Buffer sum(ctx.device, size_t(kProbeCols) * kProbeCols * 4, Buffer::DeviceLocal,
                   "the kernel probe's sum");
        {
            Recorder rec(ctx);
            rec.fill_zero(x);
            rec.fill_zero(sum);
            rec.submit();
        }
        const double tiled = time_hessian_sum(ctx, false, x, sum);
        const double bcast = time_hessian_sum(ctx, true, x, sum);
        // The families round differently (their sums run in another order), so a device on
        // which they time about alike must not flip between them from one context to the
        // next: the tiled family has to be clearly faster (kTiledMargin) to be chosen.
        ctx.products_choice = tiled * kTiledMargin < bcast ? Context::Products::Tiled
                                                           : Context::Products::Bcast;
    }
    return ctx.products_choice == Context::Products::Bcast;
}

int64_t hessian_row_stride(int64_t k, bool bcast) { return bcast ? (k + 3) / 4 * 4 : k; }

void record_hessian_sum(Recorder &rec, Context &ctx, bool bcast, const Buffer &x, const Buffer &sum,
                        uint32_t dtype, uint32_t n_tokens, uint32_t k, uint32_t offset) {
    if (bcast) {
        const uint32_t ld = uint32_t(hessian_row_stride(k, true));
        const HessianBcastPC pc{n_tokens, k, ld, offset};
        std::vector<uint32_t> spec = ctx.pipelines.spec(Kernel::HessianBcast);
        spec[2] = dtype;
        spec[4] = x.size() > ctx.device.max_storage_range() ? 1 : 0;  // X_BY_ADDRESS
        rec.dispatch_variant(Kernel::HessianBcast, spec, {&x, &sum}, pc,
                             groups(ld, kHessianBcastCols), groups(k, kHessianBcastRows));
    } else {
        const uint32_t tiles = groups(k, kHessianTile);
        const HessianAccumPC pc{n_tokens, k, dtype, offset};
        rec.dispatch(Kernel::HessianAccum, {&x, &sum}, pc, tiles, tiles);
    }
}

void record_trailing_update(Recorder &rec, Context &ctx, bool bcast, const Buffer &wt,
                            const Buffer &u, const Buffer &err, uint32_t n, uint32_t k,
                            uint32_t i1, uint32_t i2) {
    const TrailingPC pc{n, k, i1, i2};
    // trailing_bcast reads 4 rows and 4 columns a load: n and k multiples of 4.
    if (bcast && n % 4 == 0 && k % 4 == 0 && ctx.pipelines.has(Kernel::TrailingBcast)) {
        rec.dispatch(Kernel::TrailingBcast, {&wt, &u, &err}, pc,
                     groups(n / 4, kTrailingBcastWorkgroup),
                     groups(k / 4 - i2 / 4, kTrailingBcastCols / 4));
    } else {
        rec.dispatch(Kernel::TrailingUpdate, {&wt, &u, &err}, pc, groups(n, kTrailingRows),
                     groups(k - i2, kTrailingCols));
    }
}

} // namespace gptq::vk
