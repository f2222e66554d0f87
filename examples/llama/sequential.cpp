#include "sequential.h"

#include "error.h"

#include <chrono>
#include <memory>

namespace llama {

namespace {

using Clock = std::chrono::steady_clock;

struct HessianDeleter {
    void operator()(gptq_hessian *h) const { gptq_hessian_destroy(h); }
};
using HessianPtr = std::unique_ptr<gptq_hessian, HessianDeleter>;

struct QLayerDeleter {
    void operator()(gptq_qlayer *q) const { gptq_qlayer_destroy(q); }
};
using QLayerPtr = std::unique_ptr<gptq_qlayer, QLayerDeleter>;

const std::vector<std::vector<int>> &module_groups(bool true_sequential) {
    static const std::vector<std::vector<int>> seq = {{kQ, kK, kV}, {kO}, {kGate, kUp}, {kDown}};
    static const std::vector<std::vector<int>> all = {{kQ, kK, kV, kO, kGate, kUp, kDown}};
    return true_sequential ? seq : all;
}

gptq_matrix f32_matrix(const std::vector<float> &w, int64_t rows, int64_t cols) {
    return gptq_matrix{w.data(), GPTQ_DTYPE_F32, rows, cols, cols};
}

} // namespace

double relative_output_error(gptq_ctx *ctx, const gptq_qlayer *q, const std::vector<float> &w,
                             const std::vector<float> &h) {
    gptq_qlayer_info info{};
    info.struct_size = sizeof info;
    check(ctx, gptq_qlayer_get_info(q, &info), "layer info");
    const int64_t n = info.n, k = info.k;
    std::vector<float> dq(size_t(n * k));
    check(ctx, gptq_qlayer_dequantize(q, dq.data(), dq.size()), "dequantize");
    // Both traces as sums over rows of r H r^T, accumulated in double.
    double num = 0.0, den = 0.0;
    std::vector<double> d(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
        const float *wr = &w[size_t(r * k)];
        for (int64_t i = 0; i < k; ++i) d[size_t(i)] = double(wr[i]) - double(dq[size_t(r * k + i)]);
        for (int64_t i = 0; i < k; ++i) {
            const float *hi = &h[size_t(i * k)];
            double sw = 0.0, sd = 0.0;
            for (int64_t j = 0; j < k; ++j) {
                sw += double(hi[j]) * double(wr[j]);
                sd += double(hi[j]) * d[size_t(j)];
            }
            num += d[size_t(i)] * sd;
            den += double(wr[i]) * sw;
        }
    }
    return den > 0.0 ? num / den : 0.0;
}

gptq_qlayer *through_checkpoint_layout(gptq_ctx *ctx, gptq_qlayer *q_in, gptq_zeros_format fmt) {
    QLayerPtr q(q_in);
    gptq_qlayer_info info{};
    info.struct_size = sizeof info;
    check(ctx, gptq_qlayer_get_info(q.get(), &info), "layer info");
    std::vector<int32_t> qweight(size_t(info.qweight_rows * info.qweight_cols));
    std::vector<int32_t> qzeros(size_t(info.qzeros_rows * info.qzeros_cols));
    std::vector<uint16_t> scales(size_t(info.scales_rows * info.scales_cols));
    std::vector<int32_t> g_idx(size_t(info.g_idx_len));
    check(ctx, gptq_qlayer_get_qweight(q.get(), qweight.data(), qweight.size()), "qweight");
    check(ctx, gptq_qlayer_get_qzeros(q.get(), fmt, qzeros.data(), qzeros.size()), "qzeros");
    check(ctx, gptq_qlayer_get_scales_f16(q.get(), scales.data(), scales.size()), "scales");
    check(ctx, gptq_qlayer_get_g_idx(q.get(), g_idx.data(), g_idx.size()), "g_idx");
    gptq_packed_layer p{};
    p.struct_size = sizeof p;
    p.n = info.n;
    p.k = info.k;
    p.bits = info.bits;
    p.group_size = info.group_size;
    p.sym = info.sym;
    p.desc_act = info.desc_act;
    p.zeros_format = fmt;
    p.qweight = qweight.data();
    p.qzeros = qzeros.data();
    p.scales = scales.data();
    p.scales_dtype = GPTQ_DTYPE_F16;
    p.g_idx = g_idx.data();
    gptq_qlayer *out = nullptr;
    check(ctx, gptq_qlayer_from_packed(ctx, &p, &out), "rebuilding a layer from its checkpoint tensors");
    return out;
}

std::vector<LayerRecord> quantize_model(Model &m, gptq_ctx *ctx,
                                        const std::vector<std::vector<int32_t>> &calib,
                                        const QuantizeOptions &opt,
                                        const QuantizeProgressFn &progress) {
    const Config &c = m.cfg;
    const gptq_zeros_format fmt =
        opt.zeros_format ? opt.zeros_format : opt.params.sym ? GPTQ_ZEROS_V1 : GPTQ_ZEROS_V2;
    if (!opt.rtn && calib.empty())
        fail(GPTQ_ERR_INVALID_ARGUMENT, "GPTQ needs calibration sequences");
    for (const Block &b : m.blocks)
        for (const Linear &l : b.lin)
            if (l.quantized()) fail(GPTQ_ERR_INVALID_ARGUMENT, "model is already quantized");

    QuantizeProgress prog;
    prog.total = c.n_layers * kNumModules;
    std::vector<LayerRecord> records;
    Forward fwd(m, ctx);

    // Activations entering the current block, one matrix [T x dim] per sequence.
    std::vector<std::vector<float>> acts;
    for (const auto &seq : calib) acts.push_back(fwd.embed(seq));
    LayerKV kv;
    auto run_block = [&](int l, std::vector<float> &x, const TapFn *tap) {
        const int64_t T = int64_t(x.size()) / c.dim;
        kv.reserve(c, T);
        fwd.block(l, x.data(), T, 0, kv, tap);
    };

    for (int l = 0; l < int(c.n_layers); ++l) {
        Block &b = m.blocks[size_t(l)];
        for (const std::vector<int> &group : module_groups(opt.true_sequential)) {
            // One Hessian per distinct input of the group.
            HessianPtr hess[4];
            for (int mod : group) {
                const int t = int(tap_of(mod));
                if (hess[t] || acts.empty()) continue;
                gptq_hessian *h = nullptr;
                check(ctx, gptq_hessian_create(ctx, b.lin[size_t(mod)].k(), &h), "hessian");
                hess[t].reset(h);
            }
            if (!acts.empty()) {
                const TapFn tap = [&](Tap t, const float *x, int64_t rows, int64_t cols) {
                    if (!hess[int(t)]) return;
                    const gptq_matrix xm{x, GPTQ_DTYPE_F32, rows, cols, cols};
                    const gptq_status st = gptq_hessian_add(hess[int(t)].get(), &xm);
                    if (st == GPTQ_OK) return;
                    // Name the layer whose inputs failed (e.g. NaN from a broken embedding).
                    for (int mod : group)
                        if (tap_of(mod) == t)
                            check(ctx, st, ("inputs of " + module_hf_name(l, mod)).c_str());
                };
                for (const auto &x0 : acts) {
                    std::vector<float> x = x0;  // the block's output is not needed here
                    run_block(l, x, &tap);
                }
            }
            for (int mod : group) {
                Linear &lin = b.lin[size_t(mod)];
                const std::string name = module_hf_name(l, mod);
                LayerRecord rec;
                rec.layer = l;
                rec.module = mod;
                rec.n = lin.n();
                rec.k = lin.k();
                gptq_quant_params p = opt.params;
                p.layer_name = name.c_str();
                const gptq_matrix w = f32_matrix(lin.weight(), lin.n(), lin.k());
                const gptq_hessian *h = hess[int(tap_of(mod))].get();
                const auto t0 = Clock::now();
                gptq_qlayer *q = nullptr;
                if (opt.rtn) {
                    check(ctx, gptq_quantize_rtn(ctx, &p, &w, &q), name.c_str());
                } else {
                    gptq_quant_report rep{};
                    rep.struct_size = sizeof rep;
                    check(ctx, gptq_quantize_layer(ctx, &p, &w, h, &q, &rep), name.c_str());
                    rec.gptq_loss = rep.loss;
                    rec.damp_used = rep.damp_used;
                    rec.damp_retries = rep.damp_retries;
                }
                QLayerPtr stored(through_checkpoint_layout(ctx, q, fmt));
                rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
                if (h) {
                    std::vector<float> hm(size_t(lin.k() * lin.k()));
                    check(ctx, gptq_hessian_get(h, hm.data(), hm.size()), "hessian_get");
                    rec.rel_error = relative_output_error(ctx, stored.get(), lin.weight(), hm);
                    if (opt.rtn) {
                        rec.rtn_rel_error = rec.rel_error;
                    } else if (opt.compare_rtn) {
                        gptq_qlayer *r = nullptr;
                        check(ctx, gptq_quantize_rtn(ctx, &p, &w, &r), name.c_str());
                        QLayerPtr rtn(through_checkpoint_layout(ctx, r, fmt));
                        rec.rtn_rel_error = relative_output_error(ctx, rtn.get(), lin.weight(), hm);
                    }
                }
                lin.set_qlayer(stored.release());
                records.push_back(rec);
                ++prog.done;
                prog.layer = l;
                prog.module = mod;
                if (progress) progress(prog);
            }
        }
        // The quantized block's outputs feed the next block.
        if (l + 1 < int(c.n_layers))
            for (auto &x : acts) run_block(l, x, nullptr);
    }

    m.quant.quantized = true;
    m.quant.bits = opt.params.bits;
    m.quant.group_size = opt.params.group_size;
    m.quant.sym = opt.params.sym != 0;
    m.quant.desc_act = !opt.rtn && opt.params.desc_act != 0;
    m.quant.static_groups = !opt.rtn && opt.params.static_groups != 0;
    m.quant.true_sequential = opt.true_sequential;
    m.quant.damp_percent = opt.params.damp_percent;
    m.quant.method = opt.rtn ? "rtn" : "gptq";
    m.quant.zeros_format = fmt;
    return records;
}

} // namespace llama
