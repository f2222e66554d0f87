#include "backends/vulkan/vk_factor.h"

#include "backends/vulkan/vk_push_constants.h"

#include <algorithm>
#include <cstring>

namespace gptq::vk {

void record_cholesky(Recorder &rec, const Buffer &a, const Buffer &flag, uint32_t k) {
    for (uint32_t kb = 0; kb < k; kb += kCholBlock) {
        const uint32_t nb = std::min(kCholBlock, k - kb);
        const CholPC pc{k, kb, nb};
        rec.dispatch(Kernel::CholDiag, {&a, &flag}, pc, 1);
        rec.barrier();
        const uint32_t rest = k - kb - nb;
        if (rest == 0) break;
        rec.dispatch(Kernel::CholPanel, {&a}, pc, groups(rest, 64));
        rec.barrier();
        const uint32_t tiles = groups(rest, kCholUpdateTile);
        rec.dispatch(Kernel::CholUpdate, {&a}, pc, tiles, tiles);
        rec.barrier();
    }
}

void record_inverse_factor(Recorder &rec, const Buffer &a, const Buffer &scratch,
                           const Buffer &flag, uint32_t k) {
    const SquarePC sq{k};
    const uint32_t tiles = groups(k, 16);
    record_cholesky(rec, a, flag, k);
    rec.mark("cholesky");
    for (uint32_t r0 = 0; r0 < k; r0 += kTriInvBlock) {
        const TriInvPC pt{k, r0, std::min(kTriInvBlock, k - r0)};
        if (r0 > 0) {
            rec.dispatch(Kernel::TriInvGemm, {&a, &scratch}, pt, groups(r0, kTriInvCols));
            rec.barrier();
        }
        rec.dispatch(Kernel::TriInvBlock, {&a, &scratch}, pt, groups(r0 + pt.nb, 64));
        rec.barrier();
    }
    rec.mark("inverse_triangular");
    // (L L^T)^-1 = Linv^T Linv: the Hessian kernel's X^T X with X = Linv (k "tokens").
    rec.fill_zero(a);
    rec.barrier();
    const uint32_t gram_tiles = groups(k, kHessianTile);
    const HessianAccumPC pg{k, k, GPTQ_X_F32, 0, 1};
    rec.dispatch(Kernel::HessianAccum, {&scratch, &a}, pg, gram_tiles, gram_tiles);
    rec.barrier();
    rec.mark("inverse_gram");
    record_cholesky(rec, a, flag, k);
    rec.dispatch(Kernel::ToUpper, {&a}, sq, tiles, tiles);
    rec.barrier();
    rec.mark("cholesky_of_inverse");
}

namespace {

bool run_square(Context &ctx, const float *in, int64_t k, float *out, bool full_factor) {
    const size_t bytes = size_t(k * k) * 4;
    Buffer a(ctx.device, bytes, Buffer::DeviceLocal, "a test matrix");
    Buffer scratch(ctx.device, full_factor ? bytes : 16, Buffer::DeviceLocal, "scratch");
    Buffer flag(ctx.device, 16, Buffer::DeviceLocal, "the failure flag");
    Recorder rec(ctx);
    rec.upload(a, in, bytes);
    rec.fill_zero(flag);
    rec.barrier();
    if (full_factor)
        record_inverse_factor(rec, a, scratch, flag, uint32_t(k));
    else
        record_cholesky(rec, a, flag, uint32_t(k));
    const int ia = rec.download(a, 0, bytes);
    const int ifl = rec.download(flag, 0, 4);
    rec.submit();
    std::memcpy(out, rec.downloaded(ia), bytes);
    uint32_t failed;
    std::memcpy(&failed, rec.downloaded(ifl), 4);
    return failed == 0;
}

} // namespace

bool device_cholesky(Context &ctx, const float *a, int64_t k, float *l) {
    return run_square(ctx, a, k, l, false);
}

bool device_inverse_factor(Context &ctx, const float *h, int64_t k, float *u) {
    return run_square(ctx, h, k, u, true);
}

} // namespace gptq::vk
