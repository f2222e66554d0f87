#include "backends/vulkan/vk_matmul.h"

#include "backends/vulkan/vk_commands.h"
#include "backends/vulkan/vk_hessian.h"
#include "backends/vulkan/vk_push_constants.h"
#include "core/error.h"
#include "core/half.h"
#include "core/pack.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <vector>

namespace gptq::vk {

namespace {
// Rows of X per submit: bounds the X/Y buffers (and keeps them under the storage-buffer
// limit) for very large m.
constexpr int64_t kMaxChunkElems = int64_t(8) << 20;

// Packed rows [r0, r0 + rows) of `packed` ([*][n], rows a multiple of bits) in the kernels'
// layout (shaders/matmul_io.glsl): [n / B][rows / bits][B][bits], features padded to whole
// blocks of B = GPTQ_QWEIGHT_BLOCK.
std::vector<int32_t> blocked_rows(const int32_t *packed, int64_t r0, int64_t rows, int64_t n,
                                  int bits) {
    const int64_t B = GPTQ_QWEIGHT_BLOCK, nblk = (n + B - 1) / B;
    std::vector<int32_t> out(size_t(nblk * rows * B), 0);
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t run_row = r / bits * bits, word = r % bits;
        const int32_t *src = packed + size_t(r0 + r) * size_t(n);
        for (int64_t f = 0; f < n; ++f)
            out[size_t(((f / B) * rows + run_row) * B + (f % B) * bits + word)] = src[f];
    }
    return out;
}

// Smallest row-count variant (1, 2, 4, 8) of the GEMV kernels that holds `rows`.
uint32_t row_variant(int64_t rows) {
    uint32_t v = 1;
    while (v < uint32_t(rows)) v *= 2;
    return v;
}
} // namespace

ResidentLayer::ResidentLayer(std::shared_ptr<Context> c, const QLayer &q) : ctx(std::move(c)) {
    const Device &dev = ctx->device;
    const int64_t k = q.k, n = q.n;
    // Positions sorted by group, stable: identity unless the layer is act-order.
    std::vector<int32_t> ord(static_cast<size_t>(k));
    std::iota(ord.begin(), ord.end(), 0);
    const bool sorted = std::is_sorted(q.g_idx.begin(), q.g_idx.end());
    if (!sorted)
        std::stable_sort(ord.begin(), ord.end(), [&](int32_t a, int32_t b) {
            return q.g_idx[size_t(a)] < q.g_idx[size_t(b)];
        });
    std::vector<int32_t> gp(static_cast<size_t>(k));
    runs_aligned = true;
    for (int64_t i = 0; i < k; ++i) {
        gp[size_t(i)] = q.g_idx[size_t(ord[size_t(i)])];
        if (gp[size_t(i)] != gp[size_t(i - i % 32)]) runs_aligned = false;
    }
    // qweight rows in sorted-position order, padded with zero rows to whole 32-position runs
    // (so the kernels fetch a run's words without a bounds check).
    const int64_t runs = (k + 31) / 32, prows = runs * q.bits;
    const std::vector<int32_t> *packed = &q.qweight;
    std::vector<int32_t> padded;
    if (!sorted) {
        std::vector<uint8_t> codes(size_t(k * n)), moved(size_t(k * n));
        unpack_rows(q.qweight.data(), k, n, q.bits, codes.data());
        for (int64_t i = 0; i < k; ++i)
            std::memcpy(&moved[size_t(i * n)], &codes[size_t(ord[size_t(i)]) * size_t(n)],
                        size_t(n));
        padded.assign(size_t(prows * n), 0);
        pack_rows(moved.data(), k, n, q.bits, padded.data());
        packed = &padded;
        order = ord;
    } else if (prows > packed_len(k, q.bits)) {
        padded.assign(size_t(prows * n), 0);
        std::copy(q.qweight.begin(), q.qweight.end(), padded.begin());
        packed = &padded;
    }
    ldx = runs * 32;
    // Slices of whole runs, each buffer within the storage-buffer range (usually one slice).
    const uint64_t range = dev.max_storage_range();
    const int64_t n_blocked = (n + GPTQ_QWEIGHT_BLOCK - 1) / GPTQ_QWEIGHT_BLOCK * GPTQ_QWEIGHT_BLOCK;
    const auto fits = [&](int64_t p0, int64_t p1) {
        const uint64_t rows = uint64_t((p1 - p0 + 31) / 32 * q.bits);
        if (rows * uint64_t(n_blocked) * 4 > range) return false;
        const uint64_t grps = uint64_t(gp[size_t(p1 - 1)] - gp[size_t(p0)] + 1);
        return rows * uint64_t(n) * 4 <= range && grps * uint64_t(n) * 8 <= range &&
               uint64_t(p1 - p0) * 4 <= range;
    };
    Recorder rec(*ctx);
    for (int64_t p0 = 0; p0 < k;) {
        int64_t p1 = p0;
        while (p1 < k && fits(p0, std::min(k, p1 + 32))) p1 = std::min(k, p1 + 32);
        if (p1 == p0)
            fail(GPTQ_ERR_UNSUPPORTED,
                 "Vulkan: 32 input features of this %lld-feature layer need more than the "
                 "device's storage-buffer range (%llu bytes)",
                 (long long)n, (unsigned long long)range);
        Slice sl;
        sl.p0 = p0;
        sl.k = p1 - p0;
        sl.qrows = (sl.k + 31) / 32 * q.bits;
        const int32_t g0 = gp[size_t(p0)], g1 = gp[size_t(p1 - 1)];
        const size_t plane = size_t(g1 - g0 + 1) * size_t(n);
        std::vector<int32_t> gs(gp.begin() + p0, gp.begin() + p1);
        for (int32_t &g : gs) g -= g0;
        const std::vector<int32_t> words =
            blocked_rows(packed->data(), p0 / 32 * q.bits, sl.qrows, n, q.bits);
        sl.qweight = Buffer(dev, words.size() * 4, Buffer::DeviceLocal, "the packed weight");
        std::vector<float> params(plane * 2);  // (scale, zero) of [group][feature]
        for (size_t i = 0; i < plane; ++i) {
            params[2 * i] = q.scales[size_t(g0) * size_t(n) + i];
            params[2 * i + 1] = float(q.zeros[size_t(g0) * size_t(n) + i]);
        }
        sl.params = Buffer(dev, plane * 8, Buffer::DeviceLocal, "the scales and zero points");
        sl.gpos = Buffer(dev, gs.size() * 4, Buffer::DeviceLocal, "the position groups");
        // p0 is a multiple of 32, so the slice starts on a whole packed row.
        rec.upload(sl.qweight, words.data(), words.size() * 4);
        rec.upload(sl.params, params.data(), plane * 8);
        rec.upload(sl.gpos, gs.data(), gs.size() * 4);
        slices.push_back(std::move(sl));
        p0 = p1;
    }
    rec.submit();
}

const ResidentLayer &resident_layer(const std::shared_ptr<Context> &ctx, const void *owner,
                                    const QLayer &q) {
    // The owner pointer alone is not enough: a new context may reuse a freed backend's
    // address, so the cached copy must also belong to this very device.
    const auto *cached = dynamic_cast<const ResidentLayer *>(q.device.get());
    if (!cached || q.device_owner != owner || cached->ctx != ctx) {
        q.device.reset();
        q.device_owner = nullptr;
        q.device = std::make_unique<ResidentLayer>(ctx, q);
        q.device_owner = owner;
    }
    return static_cast<const ResidentLayer &>(*q.device);
}

namespace {

// Element j of a row of X as fp32.
template <gptq_dtype D> float x_value(const uint8_t *row, int64_t j) {
    if constexpr (D == GPTQ_DTYPE_F32) {
        float v;
        std::memcpy(&v, row + size_t(j) * 4, 4);
        return v;
    } else {
        uint16_t h;
        std::memcpy(&h, row + size_t(j) * 2, 2);
        return D == GPTQ_DTYPE_F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
}

template <gptq_dtype D>
void stage_rows_as(const ResidentLayer &L, const uint8_t *x, int64_t rows, int64_t k,
                   int64_t ldx, float *out) {
    const size_t es = dtype_bytes(D);
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *row = x + size_t(r * ldx) * es;
        float *o = out + r * L.ldx;
        if (L.order.empty()) {
            if constexpr (D == GPTQ_DTYPE_F32) std::memcpy(o, row, size_t(k) * 4);
            else for (int64_t p = 0; p < k; ++p) o[p] = x_value<D>(row, p);
        } else {
            for (int64_t p = 0; p < k; ++p) o[p] = x_value<D>(row, L.order[size_t(p)]);
        }
        std::fill(o + k, o + L.ldx, 0.0f);
    }
}

// Rows of X as the kernels read them (shaders/matmul_io.glsl): fp32, in the layer's
// sorted-position order, each row zero-padded to L.ldx.
void stage_rows(const ResidentLayer &L, const uint8_t *x, gptq_dtype dtype, int64_t rows,
                int64_t k, int64_t ldx, float *out) {
    if (dtype == GPTQ_DTYPE_F32) stage_rows_as<GPTQ_DTYPE_F32>(L, x, rows, k, ldx, out);
    else if (dtype == GPTQ_DTYPE_F16) stage_rows_as<GPTQ_DTYPE_F16>(L, x, rows, k, ldx, out);
    else stage_rows_as<GPTQ_DTYPE_BF16>(L, x, rows, k, ldx, out);
}

// One chunk of rows: upload X, run the kernel, download Y.
struct Chunk {
    Context &ctx;
    const ResidentLayer &L;
    const QLayer &q;
    const uint8_t *x;  // first row of the chunk
    gptq_dtype dtype;
    int64_t rows, ldx;
    float *y;
    int64_t ldy;

    // One slice's kernel (its output written, or added for slices after the first).
    void dispatch(Recorder &rec, const ResidentLayer::Slice &sl, const MatmulPC &pc,
                  GemvKernel gemv, uint32_t bits, uint32_t mrows, const Buffer &xb,
                  const Buffer &yb) const {
        const int64_t n = q.n;
        const std::initializer_list<const Buffer *> bufs{&sl.qweight, &sl.params, &sl.gpos, &xb,
                                                         &yb};
        if (gemv == GemvKernel::Direct || gemv == GemvKernel::DirectWide) {
            // Wide: NF x MROWS accumulators, at most kDirectWideOutputs of them.
            const uint32_t mr = std::min<uint32_t>(mrows, kDirectMaxRows);
            const uint32_t nf = gemv == GemvKernel::DirectWide
                                    ? std::min(kDirectWideFeatures, kDirectWideOutputs / mr) : 1;
            rec.dispatch_variant(Kernel::MatmulDirect,
                                 {kDirectWorkgroup, mr, nf, bits, ctx.device.subgroup_size()}, bufs,
                                 pc, groups(n, kDirectWorkgroup * nf), groups(rows, mr));
        } else if (rows > int64_t(kGemvMaxRows)) {
            rec.dispatch_variant(Kernel::MatmulGemm,
                                 {kGemmThreads, kGemmPerThread, uint32_t(L.runs_aligned), bits},
                                 bufs, pc, groups(n, kGemmTile), groups(rows, kGemmTile));
        } else if (!L.runs_aligned) {
            rec.dispatch(Kernel::MatmulGemv, bufs, pc, groups(n, kGemvWorkgroup));
        } else if (gemv == GemvKernel::Subgroup) {
            const uint32_t npw = ctx.pipelines.gemv_sg_features();
            rec.dispatch_variant(Kernel::MatmulGemvSubgroup, {kGemvSgWorkgroup, mrows, npw, bits},
                                 bufs, pc, groups(n, npw));
        } else {
            // X rows staged in shared memory: keep within the device's shared-memory size.
            const uint32_t shared = ctx.device.props().limits.maxComputeSharedMemorySize;
            const uint32_t chunk = std::max<uint32_t>(
                32, std::min<uint32_t>(kGemvKChunk, shared / (4 * mrows) / 32 * 32));
            const bool wide = gemv == GemvKernel::PerFeatureWide || gemv == GemvKernel::ShuffleWide;
            const uint32_t nf =
                wide ? std::max<uint32_t>(1, std::min(kGemvWideFeatures, kGemvWideOutputs / mrows))
                     : 1;
            const std::vector<uint32_t> spec{kGemvWorkgroup, mrows, chunk, bits,
                                             ctx.device.subgroup_size(), nf};
            const bool shuffle = gemv == GemvKernel::Shuffle || gemv == GemvKernel::ShuffleWide;
            rec.dispatch_variant(shuffle ? Kernel::MatmulGemvRunsShuffle : Kernel::MatmulGemvRuns,
                                 spec, bufs, pc, groups(n, kGemvWorkgroup * nf));
        }
    }

    static const char *label(GemvKernel gemv, bool gemm, bool aligned) {
        if (gemv == GemvKernel::Direct || gemv == GemvKernel::DirectWide) return "matmul_direct";
        if (gemm) return "matmul_gemm";
        if (!aligned) return "matmul_gemv";
        if (gemv == GemvKernel::Subgroup) return "matmul_gemv_subgroup";
        if (gemv == GemvKernel::Shuffle || gemv == GemvKernel::ShuffleWide)
            return "matmul_gemv_runs_shuffle";
        return "matmul_gemv_runs";
    }

    // Every slice's kernel, each followed by a barrier, and the profiling mark.
    void record_kernels(Recorder &rec, GemvKernel gemv, const Buffer &xb, const Buffer &yb) const {
        const uint32_t bits = uint32_t(q.bits), mrows = row_variant(rows);
        for (size_t i = 0; i < L.slices.size(); ++i) {
            const ResidentLayer::Slice &sl = L.slices[i];
            const MatmulPC pc{uint32_t(rows), uint32_t(q.n),   uint32_t(sl.k),  uint32_t(sl.qrows),
                              bits,           uint32_t(sl.p0), uint32_t(L.ldx), uint32_t(i > 0)};
            dispatch(rec, sl, pc, gemv, bits, mrows, xb, yb);
            rec.barrier();
        }
        rec.mark(label(gemv, rows > int64_t(kGemvMaxRows), L.runs_aligned));
    }

    // Copies the product (rows x n, packed) into y.
    void store(const float *src) const {
        for (int64_t r = 0; r < rows; ++r)
            std::memcpy(y + r * ldy, src + r * q.n, size_t(q.n) * 4);
    }

    // replay: through the layer's recorded command buffer of this shape (recording it on
    // first use), for a few rows.
    void run(GemvKernel gemv, bool replay = true) const {
        const int64_t n = q.n, k = q.k;
        const size_t xbytes = size_t(rows * L.ldx) * 4, ybytes = size_t(rows * n) * 4;
        if (replay && ctx.replay_matmul && rows <= int64_t(kGemvMaxRows)) {
            MatmulReplay &r = L.replays.get(
                ctx, {rows, gemv, ctx.profiling}, xbytes, ybytes,
                [&](Recorder &rec, const Buffer &xb, const Buffer &yb) {
                    record_kernels(rec, gemv, xb, yb);
                });
            stage_rows(L, x, dtype, rows, k, ldx, r.x());
            store(r.run());
            return;
        }
        const Buffer &xb = ctx.scratch_buffer(0, xbytes, "the activations");
        const Buffer &yb = ctx.scratch_buffer(1, ybytes, "the output");
        Recorder rec(ctx);
        stage_rows(L, x, dtype, rows, k, ldx, static_cast<float *>(rec.upload_area(xb, xbytes)));
        rec.barrier();
        record_kernels(rec, gemv, xb, yb);
        const int id = rec.download(yb, 0, ybytes);
        rec.submit();
        store(static_cast<const float *>(rec.downloaded(id)));
    }
};

// The kernels this device can run on a run-aligned layer: for m <= kGemvMaxRows every GEMV
// kernel, for more rows the tiled GEMM (named PerFeature here) and the direct kernels.
std::vector<GemvKernel> candidates(const Context &ctx, bool many_rows) {
    std::vector<GemvKernel> v{GemvKernel::PerFeature};
    if (!many_rows) v.push_back(GemvKernel::PerFeatureWide);
    if (ctx.pipelines.has(Kernel::MatmulDirect)) {
        v.push_back(GemvKernel::Direct);
        v.push_back(GemvKernel::DirectWide);
    }
    if (many_rows) return v;
    if (ctx.pipelines.has(Kernel::MatmulGemvRunsShuffle)) {
        v.push_back(GemvKernel::Shuffle);
        v.push_back(GemvKernel::ShuffleWide);
    }
    if (ctx.pipelines.has(Kernel::MatmulGemvSubgroup)) v.push_back(GemvKernel::Subgroup);
    return v;
}

double seconds_of(const Chunk &c, GemvKernel k) {
    const auto t0 = std::chrono::steady_clock::now();
    c.run(k, false);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Auto: the first call of a shape runs every candidate kernel and keeps the fastest
// (measured, whatever the device type); later calls of that shape use it. Shapes of more
// than kGemvMaxRows rows share one choice, measured on (at most) 64 of the rows. A forced
// kernel the device lacks (or that does not serve the row count) falls back to PerFeature.
GemvKernel pick_kernel(Context &ctx, const Chunk &c) {
    const bool many = c.rows > int64_t(kGemvMaxRows);
    const GemvShape shape{c.q.n, c.q.k, many ? 0 : int(row_variant(c.rows)), c.q.bits};
    if (ctx.gemv == GemvKernel::Auto) {  // the common case first: a shape already measured
        const auto it = ctx.gemv_choice.find(shape);
        if (it != ctx.gemv_choice.end()) return it->second;
    }
    const std::vector<GemvKernel> cands = candidates(ctx, many);
    if (ctx.gemv != GemvKernel::Auto)
        return std::find(cands.begin(), cands.end(), ctx.gemv) != cands.end()
                   ? ctx.gemv : GemvKernel::PerFeature;
    if (cands.size() == 1) return cands[0];
    Chunk sample = c;
    sample.rows = std::min<int64_t>(c.rows, 64);
    double best = 0.0;
    GemvKernel choice = cands[0];
    for (GemvKernel cand : cands) {
        sample.run(cand, false);  // warm: builds the pipeline variant
        const double s = seconds_of(sample, cand);
        if (cand == cands[0] || s < best) {
            best = s;
            choice = cand;
        }
    }
    ctx.gemv_choice.emplace(shape, choice);
    return choice;
}

} // namespace

void matmul_on_device(const std::shared_ptr<Context> &ctx, const void *owner, const QLayer &q,
                      const void *x, gptq_dtype dtype, int64_t m, int64_t ldx, float *y,
                      int64_t ldy) {
    const ResidentLayer &L = resident_layer(ctx, owner, q);
    const size_t es = dtype_bytes(dtype);
    // Rows per chunk: X (staged as fp32) and Y of a chunk each within one storage-buffer
    // binding.
    const int64_t range = int64_t(std::min<uint64_t>(ctx->device.max_storage_range(), INT64_MAX));
    const int64_t row_bytes = std::max<int64_t>(L.ldx * 4, q.n * 4);
    if (row_bytes > range)
        fail(GPTQ_ERR_UNSUPPORTED,
             "Vulkan: one row of X or Y (%lld bytes) exceeds the device's storage-buffer range "
             "(%lld bytes)", (long long)row_bytes, (long long)range);
    const int64_t rows_per = std::max<int64_t>(
        1, std::min(kMaxChunkElems / std::max<int64_t>(1, std::max(q.n, L.ldx)), range / row_bytes));
    for (int64_t r0 = 0; r0 < m; r0 += rows_per) {
        const int64_t rows = std::min(rows_per, m - r0);
        const Chunk c{*ctx, L, q, static_cast<const uint8_t *>(x) + size_t(r0 * ldx) * es,
                      dtype, rows, ldx, y + r0 * ldy, ldy};
        c.run(L.runs_aligned ? pick_kernel(*ctx, c) : GemvKernel::PerFeature);
    }
}

} // namespace gptq::vk
