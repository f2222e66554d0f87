// Quantized layers: checkpoint tensors out (qweight/qzeros/scales/g_idx), unpacked views,
// dequantization, and building a layer back from checkpoint tensors.
#include "api/handles.h"
#include "core/layer_build.h"
#include "api/validate.h"

#include "core/abi_struct.h"
#include "core/half.h"
#include "core/pack.h"

#include <cmath>
#include <cstring>
#include <numeric>

using gptq::fail;

namespace {

gptq_status null_layer() {
    return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "qlayer is NULL"); });
}

void fill_info(const gptq::QLayer &q, gptq_qlayer_info *info) {
    info->n = q.n;
    info->k = q.k;
    info->bits = q.bits;
    info->group_size = q.group_size;
    info->n_groups = q.n_groups;
    info->sym = q.sym;
    info->desc_act = q.desc_act;
    info->static_groups = q.static_groups;
    info->qweight_rows = gptq::packed_len(q.k, q.bits);
    info->qweight_cols = q.n;
    info->qzeros_rows = q.n_groups;
    info->qzeros_cols = gptq::packed_len(q.n, q.bits);
    info->scales_rows = q.n_groups;
    info->scales_cols = q.n;
    info->g_idx_len = q.k;
}

template <class T>
void copy_out(const std::vector<T> &src, T *dst, size_t count, const char *name) {
    gptq::require_non_null(dst, name);
    gptq::require_count(count, int64_t(src.size()), name);
    std::memcpy(dst, src.data(), src.size() * sizeof(T));
}

} // namespace

extern "C" {

GPTQ_API gptq_status gptq_qlayer_get_info(const gptq_qlayer *q, gptq_qlayer_info *info) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] {
        gptq::require_non_null(info, "info");
        gptq_qlayer_info full{};
        full.struct_size = sizeof full;
        fill_info(q->layer, &full);
        gptq::write_output(full, gptq::kQlayerInfoSize010, "info", info, /*optional=*/false);
    });
}

GPTQ_API gptq_status gptq_qlayer_get_qweight(const gptq_qlayer *q, int32_t *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] { copy_out(q->layer.qweight, dst, count, "dst"); });
}

GPTQ_API gptq_status gptq_qlayer_get_qzeros(const gptq_qlayer *q, gptq_zeros_format format,
                                            int32_t *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] {
        const int fmt = gptq::enum_value(format);
        if (fmt != GPTQ_ZEROS_V1 && fmt != GPTQ_ZEROS_V2)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "format = %d is not a gptq_zeros_format", fmt);
        const gptq::QLayer &l = q->layer;
        gptq::require_non_null(dst, "dst");
        gptq::require_count(count, l.n_groups * gptq::packed_len(l.n, l.bits), "dst");
        // v1 stores zero - 1 wrapped to the code width (a zero of 0 becomes maxq and reads
        // back as maxq + 1: why asymmetric layers must be written as v2). A zero of maxq + 1
        // (imported from such a v1 file) cannot be written as v2.
        if (fmt == GPTQ_ZEROS_V2)
            for (size_t i = 0; i < l.zeros.size(); ++i)
                if (l.zeros[i] > (1 << l.bits) - 1)
                    fail(GPTQ_ERR_FORMAT,
                         "zero point %d at group %lld, column %lld does not fit in v2's %d bits",
                         l.zeros[i], (long long)(int64_t(i) / l.n), (long long)(int64_t(i) % l.n),
                         l.bits);
        q->ctx->backend->pack_qzeros(l, fmt == GPTQ_ZEROS_V1 ? 1 : 0, dst);
    });
}

GPTQ_API gptq_status gptq_qlayer_get_scales_f16(const gptq_qlayer *q, uint16_t *dst,
                                                size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] {
        gptq::require_non_null(dst, "dst");
        gptq::require_count(count, int64_t(q->layer.scales.size()), "dst");
        const gptq::QLayer &l = q->layer;
        for (size_t i = 0; i < l.scales.size(); ++i) {
            const uint16_t h = gptq::f32_to_f16(l.scales[i]);
            // Exporting inf or 0 would make the checkpoint dequantize to garbage or zeros.
            if ((h & 0x7c00u) == 0x7c00u || ((h & 0x7fffu) == 0 && l.scales[i] != 0.0f))
                fail(GPTQ_ERR_UNSUPPORTED,
                     "scale %g (output column %lld, group %lld) is outside fp16's range "
                     "[6.0e-8, 65504]; read the fp32 scales with gptq_qlayer_get_scales",
                     double(l.scales[i]), (long long)(int64_t(i) % l.n),
                     (long long)(int64_t(i) / l.n));
            dst[i] = h;
        }
    });
}

GPTQ_API gptq_status gptq_qlayer_get_g_idx(const gptq_qlayer *q, int32_t *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] { copy_out(q->layer.g_idx, dst, count, "dst"); });
}

GPTQ_API gptq_status gptq_qlayer_get_codes(const gptq_qlayer *q, int32_t *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] {
        const gptq::QLayer &l = q->layer;
        gptq::require_non_null(dst, "dst");
        gptq::require_count(count, l.n * l.k, "dst");
        for (int64_t i = 0; i < l.n; ++i)
            for (int64_t j = 0; j < l.k; ++j)
                dst[i * l.k + j] = int32_t(gptq::packed_code_at(l.qweight.data() + i, l.n, j, l.bits));
    });
}

GPTQ_API gptq_status gptq_qlayer_get_scales(const gptq_qlayer *q, float *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] { copy_out(q->layer.scales, dst, count, "dst"); });
}

GPTQ_API gptq_status gptq_qlayer_get_zeros(const gptq_qlayer *q, int32_t *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] { copy_out(q->layer.zeros, dst, count, "dst"); });
}

GPTQ_API gptq_status gptq_qlayer_get_perm(const gptq_qlayer *q, int32_t *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] { copy_out(q->layer.perm, dst, count, "dst"); });
}

GPTQ_API gptq_status gptq_qlayer_dequantize(const gptq_qlayer *q, float *dst, size_t count) {
    if (!q) return null_layer();
    return gptq::guarded(q->ctx, [&] {
        gptq::require_non_null(dst, "dst");
        gptq::require_count(count, q->layer.n * q->layer.k, "dst");
        for (int64_t i = 0; i < q->layer.n; ++i) gptq::dequantize_row(q->layer, i, dst + i * q->layer.k);
    });
}

GPTQ_API gptq_status gptq_qlayer_from_packed(gptq_ctx *ctx, const gptq_packed_layer *given,
                                             gptq_qlayer **out) {
    if (!ctx) {
        if (out) *out = nullptr;
        return gptq::guarded(nullptr, [] { fail(GPTQ_ERR_INVALID_ARGUMENT, "ctx is NULL"); });
    }
    return gptq::guarded(ctx, [&] {
        gptq::require_non_null(out, "out");
        *out = nullptr;
        gptq::require_non_null(given, "packed");
        gptq_packed_layer packed{};  // fields newer than the caller's layout: zero
        gptq::read_sized(given, gptq::kPackedLayerSize010, "packed", &packed);
        const gptq_packed_layer *p = &packed;
        if (p->bits != 2 && p->bits != 3 && p->bits != 4 && p->bits != 8)
            fail(GPTQ_ERR_UNSUPPORTED, "packed->bits = %d is not supported (2, 3, 4 or 8)", p->bits);
        if (p->group_size != -1 && p->group_size < 1)
            fail(GPTQ_ERR_UNSUPPORTED, "packed->group_size = %d is not supported (-1 or >= 1)",
                 p->group_size);
        // Same bound as a Hessian's k, and N limited so [n x k] stays addressable.
        if (p->n <= 0 || p->k <= 0 || p->k > (int64_t(1) << 20) || p->n > (int64_t(1) << 24))
            fail(GPTQ_ERR_SHAPE, "packed: shape n = %lld, k = %lld is out of range",
                 (long long)p->n, (long long)p->k);
        const int zeros_format = gptq::enum_value(p->zeros_format);
        const int scales_dtype = gptq::enum_value(p->scales_dtype);
        if (zeros_format != GPTQ_ZEROS_V1 && zeros_format != GPTQ_ZEROS_V2)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "packed->zeros_format = %d is not a gptq_zeros_format",
                 zeros_format);
        if (scales_dtype != GPTQ_DTYPE_F16 && scales_dtype != GPTQ_DTYPE_F32)
            fail(GPTQ_ERR_UNSUPPORTED, "packed->scales_dtype must be F16 or F32");
        gptq::require_non_null(p->qweight, "packed->qweight");
        gptq::require_non_null(p->qzeros, "packed->qzeros");
        gptq::require_non_null(p->scales, "packed->scales");

        gptq::QLayer l;
        l.n = p->n;
        l.k = p->k;
        l.bits = p->bits;
        l.group_size = p->group_size;
        l.group_cols = p->group_size < 0 ? p->k : p->group_size;
        l.n_groups = (l.k + l.group_cols - 1) / l.group_cols;
        l.sym = p->sym != 0;
        l.desc_act = p->desc_act != 0;

        const int64_t qrows = gptq::packed_len(l.k, l.bits);
        l.qweight.assign(p->qweight, p->qweight + qrows * l.n);
        std::vector<uint8_t> z(size_t(l.n_groups * l.n));
        gptq::unpack_cols(p->qzeros, l.n_groups, l.n, l.bits, z.data());
        l.zeros.resize(z.size());
        const int off = zeros_format == GPTQ_ZEROS_V1 ? 1 : 0;
        for (size_t i = 0; i < z.size(); ++i) {
            const int zero = int(z[i]) + off;
            // v1 stores zero - 1 masked to the code width, and its readers add 1 back without
            // masking: a stored maxq means a true zero of maxq + 1 (asymmetric layers written
            // as v1). Keep what those readers compute.
            l.zeros[i] = zero;
        }

        l.scales.resize(size_t(l.n_groups * l.n));
        for (size_t i = 0; i < l.scales.size(); ++i) {
            const float s = scales_dtype == GPTQ_DTYPE_F16
                                ? gptq::f16_to_f32(static_cast<const uint16_t *>(p->scales)[i])
                                : static_cast<const float *>(p->scales)[i];
            if (!std::isfinite(s))
                fail(GPTQ_ERR_NON_FINITE, "packed->scales: non-finite scale at group %lld, column %lld",
                     (long long)(int64_t(i) / l.n), (long long)(int64_t(i) % l.n));
            l.scales[i] = s;
        }

        l.g_idx.resize(size_t(l.k));
        for (int64_t j = 0; j < l.k; ++j) {
            const int32_t g = p->g_idx ? p->g_idx[j] : int32_t(j / l.group_cols);
            if (g < 0 || g >= l.n_groups)
                fail(GPTQ_ERR_FORMAT, "packed->g_idx[%lld] = %d is outside [0, %lld)",
                     (long long)j, g, (long long)l.n_groups);
            l.g_idx[size_t(j)] = g;
        }
        // The act-order permutation is not stored in checkpoints; g_idx carries what
        // inference needs.
        l.perm.resize(size_t(l.k));
        std::iota(l.perm.begin(), l.perm.end(), 0);

        auto q = std::make_unique<gptq_qlayer>();
        q->ctx = ctx;
        q->layer = std::move(l);
        *out = q.release();
    });
}

GPTQ_API void gptq_qlayer_destroy(gptq_qlayer *q) { delete q; }

} // extern "C"
