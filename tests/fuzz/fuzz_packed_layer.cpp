// gptq_qlayer_from_packed on checkpoint tensors with arbitrary contents and shape fields
// drawn from the input: it must return a status (never crash or trip a sanitizer), and a
// layer it accepts must multiply without error (and, with fp16 scales, finitely).
#include <gptq/gptq.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// Consumes the input front to back; past its end it yields zeros.
struct Bytes {
    const uint8_t *p;
    size_t n;
    uint8_t u8() {
        if (!n) return 0;
        --n;
        return *p++;
    }
    void fill(void *dst, size_t len) {
        auto *d = static_cast<uint8_t *>(dst);
        for (size_t i = 0; i < len; ++i) d[i] = u8();
    }
};

gptq_ctx *cpu_ctx() {
    static gptq_ctx *ctx = [] {
        gptq_ctx_params cp;
        gptq_ctx_params_init(&cp);
        cp.backend = GPTQ_BACKEND_CPU;
        gptq_ctx *c = nullptr;
        return gptq_ctx_create(&cp, &c) == GPTQ_OK ? c : nullptr;
    }();
    return ctx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gptq_ctx *ctx = cpu_ctx();
    if (!ctx) return 0;
    Bytes in{data, size};
    const int64_t n = 1 + in.u8() % 64, k = 1 + in.u8() % 96;
    static const int32_t kBits[] = {2, 3, 4, 8, 5, 0};
    const int32_t bits = kBits[in.u8() % 6];
    const int32_t group = int32_t(in.u8() % 40) - 1;  // -1, 0 (invalid) .. 38
    const uint8_t flags = in.u8();
    const bool f32_scales = flags & 1, with_g_idx = flags & 2;

    // Buffers sized for the declared shape (the API cannot check a pointer's extent).
    const int64_t b = bits > 0 ? bits : 4;
    const int64_t g = group > 0 ? group : k;
    const int64_t n_groups = (k + g - 1) / g;
    const int64_t kw = (k + 31) / 32 * b, nw = (n + 31) / 32 * b;
    std::vector<int32_t> qweight(size_t(kw * n)), qzeros(size_t(n_groups * nw));
    std::vector<int32_t> g_idx(static_cast<size_t>(k));
    std::vector<float> scales_f32(size_t(n_groups * n));
    std::vector<uint16_t> scales_f16(size_t(n_groups * n));
    in.fill(qweight.data(), qweight.size() * 4);
    in.fill(qzeros.data(), qzeros.size() * 4);
    if (f32_scales)
        in.fill(scales_f32.data(), scales_f32.size() * 4);
    else
        in.fill(scales_f16.data(), scales_f16.size() * 2);
    for (auto &v : g_idx) v = int32_t(in.u8() % (n_groups + 1));  // sometimes out of range

    gptq_packed_layer pl;
    std::memset(&pl, 0, sizeof pl);
    pl.struct_size = sizeof pl;
    pl.n = n;
    pl.k = k;
    pl.bits = bits;
    pl.group_size = group;
    pl.zeros_format = (flags & 4) ? GPTQ_ZEROS_V2 : GPTQ_ZEROS_V1;
    pl.qweight = qweight.data();
    pl.qzeros = qzeros.data();
    pl.scales_dtype = f32_scales ? GPTQ_DTYPE_F32 : GPTQ_DTYPE_F16;
    const void *scales = f32_scales ? static_cast<const void *>(scales_f32.data())
                                    : static_cast<const void *>(scales_f16.data());
    pl.scales = static_cast<decltype(pl.scales)>(scales);
    pl.g_idx = with_g_idx ? g_idx.data() : nullptr;

    gptq_qlayer *q = nullptr;
    if (gptq_qlayer_from_packed(ctx, &pl, &q) != GPTQ_OK) return 0;

    // An accepted layer: one decode step and one small prefill, from inputs in [-1, 1].
    for (int64_t m : {int64_t(1), int64_t(9)}) {
        std::vector<float> x(size_t(m * k)), y(size_t(m * n));
        for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(in.u8()) - 128) / 128.0f;
        gptq_matrix xm = {x.data(), GPTQ_DTYPE_F32, m, k, 0};
        if (gptq_matmul_q4(ctx, q, &xm, y.data(), 0) != GPTQ_OK) __builtin_trap();
        // fp16 scales bound every weight by 65504 * 256 and every sum far below FLT_MAX, so
        // a NaN can only be a bug; f32 scales near FLT_MAX may overflow honestly.
        if (!f32_scales)
            for (float v : y)
                if (!std::isfinite(v)) __builtin_trap();
    }
    gptq_qlayer_destroy(q);
    return 0;
}
