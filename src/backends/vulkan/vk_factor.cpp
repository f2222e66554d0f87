#include "backends/vulkan/vk_factor.h"

#include "backends/vulkan/vk_push_constants.h"

#include <algorithm>
#include <cstring>

namespace gptq::vk {

namespace {

template <class PC>
void dispatch_factor(Recorder &rec, Kernel kernel, uint32_t step,
                     std::initializer_list<const Buffer *> bufs, const PC &pc, uint32_t groups) {
    if (step == 0)
        rec.dispatch(kernel, bufs, pc, groups);
    else
        rec.dispatch_variant(kernel, {kFactorBlock, kFactorThreads, step}, bufs, pc, groups);
}

} // namespace

void record_cholesky(Recorder &rec, const Buffer &a, const Buffer &xinv, const Buffer &flag,
                     uint32_t k, uint32_t step) {
    // Two dispatches per block: the diagonal block, then the panel below it. The panel is
    // brought up to date from the factored columns on its left by one product (left-
    // looking: each element written once), and the panel step also updates the diagonal
    // blocks of its rows, so the one-workgroup diagonal step only factors and inverts.
    for (uint32_t kb = 0; kb < k; kb += kFactorBlock) {
        const CholPC pc{k, kb, std::min(kFactorBlock, k - kb)};
        dispatch_factor(rec, Kernel::CholDiag, step, {&a, &xinv, &flag}, pc, 1);
        rec.barrier();
        if (kb + kFactorBlock >= k) break;
        dispatch_factor(rec, Kernel::CholPanel, step, {&a}, pc,
                        groups(k - kb - kFactorBlock, kFactorBlock));
        rec.barrier();
    }
}

void record_inverse_factor(Recorder &rec, const Buffer &a, const Buffer &scratch,
                           const Buffer &flag, uint32_t k, uint32_t step) {
    // L^-1 is built in scratch (zero above its diagonal) and copied over a at the end: its
    // row blocks read all of L's rows on their left, so it cannot overwrite L in place.
    rec.fill_zero(scratch);
    rec.barrier();
    record_cholesky(rec, a, scratch, flag, k, step);
    rec.mark("cholesky");
    for (uint32_t r0 = kFactorBlock; r0 < k; r0 += kFactorBlock) {
        const TriInvPC pt{k, r0, std::min(kFactorBlock, k - r0)};
        dispatch_factor(rec, Kernel::TriInvGemm, step, {&a, &scratch, &flag}, pt, r0 / kFactorBlock);
        rec.barrier();
    }
    // In physical coordinates the reversed L^-1 is U, upper triangular with zeros below.
    rec.copy(scratch, 0, a, 0, size_t(k) * k * 4);
    rec.barrier();
    rec.mark("inverse_triangular");
}

namespace {

bool run_square(Context &ctx, const float *in, int64_t k, float *out, bool full_factor,
                uint32_t step) {
    const size_t bytes = size_t(k * k) * 4;
    Buffer a(ctx.device, bytes, Buffer::DeviceLocal, "a test matrix");
    Buffer scratch(ctx.device, bytes, Buffer::DeviceLocal, "scratch");
    Buffer flag(ctx.device, 16, Buffer::DeviceLocal, "the failure flag");
    Recorder rec(ctx);
    rec.upload(a, in, bytes);
    rec.fill_zero(flag);
    rec.barrier();
    if (full_factor)
        record_inverse_factor(rec, a, scratch, flag, uint32_t(k), step);
    else
        record_cholesky(rec, a, scratch, flag, uint32_t(k), step);
    const int ia = rec.download(a, 0, bytes);
    const int ifl = rec.download(flag, 0, 4);
    rec.submit();
    std::memcpy(out, rec.downloaded(ia), bytes);
    uint32_t failed;
    std::memcpy(&failed, rec.downloaded(ifl), 4);
    return failed == 0;
}

} // namespace

bool device_reversed_cholesky(Context &ctx, const float *a, int64_t k, float *r, uint32_t step) {
    return run_square(ctx, a, k, r, false, step);
}

bool device_inverse_factor(Context &ctx, const float *h, int64_t k, float *u, uint32_t step) {
    return run_square(ctx, h, k, u, true, step);
}

} // namespace gptq::vk
