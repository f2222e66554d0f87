#include "sequential.h"

#include "error.h"
#include "half.h"

#include <algorithm>
#include <chrono>
#include <memory>

namespace llama {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

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


// Per-sequence calibration states (the activations entering the current block, or a state
// inside it), one matrix per sequence, kept in fp32 or rounded to f16/bf16 (half the memory).
class ActivationStore {
public:
    explicit ActivationStore(gptq_dtype d) : dtype_(d) {}
    bool empty() const { return size() == 0; }
    size_t size() const { return dtype_ == GPTQ_DTYPE_F32 ? f32_.size() : h16_.size(); }
    void push(const std::vector<float> &x) {
        if (dtype_ == GPTQ_DTYPE_F32) {
            f32_.push_back(x);
        } else {
            h16_.emplace_back(x.size());
            store(h16_.size() - 1, x);
        }
    }
    void load(size_t i, std::vector<float> &x) const {
        if (dtype_ == GPTQ_DTYPE_F32) {
            x = f32_[i];
            return;
        }
        const std::vector<uint16_t> &h = h16_[i];
        x.resize(h.size());
        for (size_t j = 0; j < h.size(); ++j)
            x[j] = dtype_ == GPTQ_DTYPE_F16 ? half_to_float(h[j]) : bf16_to_float(h[j]);
    }
    void store(size_t i, const std::vector<float> &x) {
        if (dtype_ == GPTQ_DTYPE_F32) {
            f32_[i] = x;
            return;
        }
        std::vector<uint16_t> &h = h16_[i];
        h.resize(x.size());
        for (size_t j = 0; j < h.size(); ++j)
            h[j] = dtype_ == GPTQ_DTYPE_F16 ? float_to_half(x[j]) : float_to_bf16(x[j]);
    }

private:
    gptq_dtype dtype_;
    std::vector<std::vector<float>> f32_;
    std::vector<std::vector<uint16_t>> h16_;
};

} // namespace

double relative_output_error(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix &wm,
                             const std::vector<float> &h) {
    gptq_qlayer_info info{};
    info.struct_size = sizeof info;
    check(ctx, gptq_qlayer_get_info(q, &info), "layer info");
    const int64_t n = info.n, k = info.k;
    const std::vector<float> w = matrix_to_f32(wm);
    std::vector<float> d(size_t(n * k));
    check(ctx, gptq_qlayer_dequantize(q, d.data(), d.size()), "dequantize");
    for (size_t i = 0; i < d.size(); ++i) d[i] = w[i] - d[i];
    // Both traces as sum over (r, i) of M[r][i] * (H M^T)[i][r] (H is symmetric): M becomes
    // a dense layer on the context and H its input, so the product is a GEMM there and the
    // copy the library keeps is M's n x k rather than H's k x k; the final sums in double.
    std::vector<float> hmt(size_t(k * n));
    const gptq_matrix hm{h.data(), GPTQ_DTYPE_F32, k, k, k};
    auto trace = [&](const std::vector<float> &m) {
        gptq_dlayer *md = nullptr;
        const gptq_matrix mm{m.data(), GPTQ_DTYPE_F32, n, k, k};
        check(ctx, gptq_dlayer_create(ctx, &mm, &md), "weight as a dense layer");
        const gptq_status st = gptq_matmul_dense(ctx, md, &hm, hmt.data(), n);
        gptq_dlayer_destroy(md);
        check(ctx, st, "H M^T product");
        double sum = 0.0;
        for (int64_t i = 0; i < k; ++i)
            for (int64_t r = 0; r < n; ++r)
                sum += double(m[size_t(r * k + i)]) * double(hmt[size_t(i * n + r)]);
        return sum;
    };
    const double num = trace(d), den = trace(w);
    return den > 0.0 ? num / den : 0.0;
}

gptq_zeros_format checkpoint_zeros_format(const QuantizeOptions &opt) {
    if (opt.zeros_format) return opt.zeros_format;
    return opt.params.sym ? GPTQ_ZEROS_V1 : GPTQ_ZEROS_V2;
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
    const gptq_zeros_format fmt = checkpoint_zeros_format(opt);
    if (!opt.rtn && calib.empty())
        fail(GPTQ_ERR_INVALID_ARGUMENT, "GPTQ needs calibration sequences");
    for (const Block &b : m.blocks)
        for (const Linear &l : b.lin)
            if (l.quantized()) fail(GPTQ_ERR_INVALID_ARGUMENT, "model is already quantized");

    QuantizeProgress prog;
    const int first = opt.first_layer;
    const int last = opt.last_layer < 0 ? int(c.n_layers) : opt.last_layer;
    if (first < 0 || first >= last || last > int(c.n_layers))
        fail(GPTQ_ERR_INVALID_ARGUMENT, "layer range %d:%d is not within 0:%lld", first, last,
             (long long)c.n_layers);
    prog.total = (last - first) * kNumModules;
    std::vector<LayerRecord> records;
    Forward fwd(m, ctx);

    // Activations entering the current block, one matrix [T x dim] per sequence.
    ActivationStore acts(opt.act_dtype);
    for (const auto &seq : calib) acts.push(fwd.embed(seq));
    std::vector<float> x;  // the one fp32 working copy, reused for every sequence and block
    LayerKV kv;
    auto run_block = [&](int l, std::vector<float> &x, const TapFn *tap, const Tap *stop) {
        const int64_t T = int64_t(x.size()) / c.dim;
        kv.reserve(c, T);
        fwd.block(l, x.data(), T, 0, kv, tap, stop);
    };

    // Blocks before the range only carry the calibration activations forward.
    auto advance = [&](int l) {  // every sequence through block l, stored back
        for (size_t i = 0; i < acts.size(); ++i) {
            acts.load(i, x);
            run_block(l, x, nullptr, nullptr);
            acts.store(i, x);
        }
    };
    for (int l = 0; l < first && !acts.empty(); ++l) advance(l);
    // The Hessians of the group being calibrated, one per distinct input (q/k/v share one).
    HessianPtr hess[4];
    int cur_layer = first;
    const std::vector<int> *cur_group = nullptr;
    double hessian_s = 0.0;
    const TapFn tap = [&](Tap t, const float *xt, int64_t rows, int64_t cols) {
        if (!hess[int(t)]) return;
        const auto th = Clock::now();
        const gptq_matrix xm{xt, GPTQ_DTYPE_F32, rows, cols, cols};
        const gptq_status st = gptq_hessian_add(hess[int(t)].get(), &xm);
        hessian_s += seconds_since(th);
        if (st == GPTQ_OK) return;
        // Name the layer whose inputs failed (e.g. NaN from a broken embedding).
        for (int mod : *cur_group)
            if (tap_of(mod) == t)
                check(ctx, st, ("inputs of " + module_hf_name(cur_layer, mod)).c_str());
    };
    // Progress of a group's calibration forward, one call per sequence.
    auto calibrating = [&](size_t i) {
        if (!progress) return;
        std::string names;
        for (int mod : *cur_group) names += (names.empty() ? "" : "+") + std::string(module_short_name(mod));
        prog.activity = "layer " + std::to_string(cur_layer) + " calibrating " + names + " " +
                        std::to_string(i + 1) + "/" + std::to_string(acts.size());
        progress(prog);
        prog.activity.clear();
    };
    // Runs `pass` (which feeds the taps) over the calibration set with fresh Hessians for the
    // inputs of `group`; the time goes to forward_s and hessian_s.
    auto calibrate = [&](int l, const std::vector<int> &group, const std::function<void()> &pass) {
        for (HessianPtr &h : hess) h.reset();
        cur_layer = l;
        cur_group = &group;
        if (acts.empty()) return;
        for (int mod : group) {
            const int t = int(tap_of(mod));
            if (hess[t]) continue;
            gptq_hessian *h = nullptr;
            check(ctx, gptq_hessian_create(ctx, m.blocks[size_t(l)].lin[size_t(mod)].k(), &h), "hessian");
            hess[t].reset(h);
        }
        hessian_s = 0.0;
        const auto tf = Clock::now();
        pass();
        prog.hessian_s += hessian_s;
        prog.forward_s += seconds_since(tf) - hessian_s;
    };
    auto quantize_group = [&](int l, const std::vector<int> &group) {
        Block &b = m.blocks[size_t(l)];
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
            const gptq_matrix w = lin.matrix();
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
                // The library's metric on the same H, of the layer before its scales are
                // rounded to the checkpoint's fp16 (which moves each dequantized weight by at
                // most 2^-11 of itself): computing it again here would cost two more
                // N x K x K products per layer.
                rec.rel_error = rep.rel_output_error;
            }
            QLayerPtr stored(through_checkpoint_layout(ctx, q, fmt));
            rec.seconds = seconds_since(t0);
            prog.quantize_s += rec.seconds;
            const auto tm = Clock::now();
            if (h && (opt.rtn || opt.compare_rtn)) {
                std::vector<float> hm(size_t(lin.k() * lin.k()));
                check(ctx, gptq_hessian_get(h, hm.data(), hm.size()), "hessian_get");
                if (opt.rtn) {
                    rec.rel_error = rec.rtn_rel_error =
                        relative_output_error(ctx, stored.get(), w, hm);
                } else {
                    gptq_qlayer *r = nullptr;
                    check(ctx, gptq_quantize_rtn(ctx, &p, &w, &r), name.c_str());
                    QLayerPtr rtn(through_checkpoint_layout(ctx, r, fmt));
                    rec.rtn_rel_error = relative_output_error(ctx, rtn.get(), w, hm);
                }
            }
            prog.metrics_s += seconds_since(tm);
            lin.set_qlayer(stored.release());
            records.push_back(rec);
            ++prog.done;
            prog.layer = l;
            prog.module = mod;
            if (progress) progress(prog);
        }
    };

    // True-sequential calibration keeps the block's state between groups instead of
    // re-running the block from its input before each one: per sequence, `inner` holds the
    // attention output (o_proj's input) and then the residual stream after attention. Each
    // group's inputs are computed once, with the quantized modules before it.
    ActivationStore inner(opt.act_dtype);
    std::vector<float> att, mid;
    auto seq_len_of = [&](size_t i) { return int64_t(calib[i].size()); };
    const Tap kStopAttnIn = Tap::AttnIn, kStopFfnIn = Tap::FfnIn;
    const bool staged = opt.true_sequential && !acts.empty();
    for (int l = first; l < last; ++l) {
        if (!staged) {
            // One group (or no calibration): the block's inputs straight from its input.
            for (const std::vector<int> &group : module_groups(opt.true_sequential)) {
                Tap stop = Tap::AttnIn;  // the block runs only up to the last input needed
                for (int mod : group) stop = std::max(stop, tap_of(mod));
                calibrate(l, group, [&] {
                    for (size_t i = 0; i < acts.size(); ++i) {
                        calibrating(i);
                        acts.load(i, x);
                        run_block(l, x, &tap, &stop);
                    }
                });
                quantize_group(l, group);
            }
            const auto tf = Clock::now();
            if (l + 1 < last) advance(l);
            prog.forward_s += seconds_since(tf);
        } else {
            const std::vector<std::vector<int>> &groups = module_groups(true);
            calibrate(l, groups[0], [&] {  // q, k, v: the normed block input
                for (size_t i = 0; i < acts.size(); ++i) {
                    calibrating(i);
                    acts.load(i, x);
                    run_block(l, x, &tap, &kStopAttnIn);
                }
            });
            quantize_group(l, groups[0]);
            calibrate(l, groups[1], [&] {  // o: attention with the quantized q, k, v
                for (size_t i = 0; i < acts.size(); ++i) {
                    calibrating(i);
                    const int64_t T = seq_len_of(i);
                    acts.load(i, x);
                    kv.reserve(c, T);
                    att.resize(size_t(T * c.q_dim()));
                    fwd.attention_part(l, x.data(), T, 0, kv, att.data());
                    tap(Tap::AttnOut, att.data(), T, c.q_dim());
                    if (inner.size() <= i) inner.push(att); else inner.store(i, att);
                }
            });
            quantize_group(l, groups[1]);
            calibrate(l, groups[2], [&] {  // gate, up: the residual stream after attention
                for (size_t i = 0; i < acts.size(); ++i) {
                    calibrating(i);
                    const int64_t T = seq_len_of(i);
                    acts.load(i, x);
                    inner.load(i, att);
                    fwd.add_attention_output(l, att.data(), T, x.data());
                    inner.store(i, x);
                    fwd.ffn_part(l, x.data(), T, nullptr, &tap, &kStopFfnIn);
                }
            });
            quantize_group(l, groups[2]);
            // SwiGLU outputs kept for the output pass, within opt.ffn_cache_bytes (they are
            // the largest state, T x intermediate_size per sequence).
            std::vector<std::vector<float>> mids(acts.size());
            uint64_t cached = 0;
            calibrate(l, groups[3], [&] {  // down: SwiGLU of the quantized gate and up
                for (size_t i = 0; i < acts.size(); ++i) {
                    calibrating(i);
                    const int64_t T = seq_len_of(i);
                    inner.load(i, x);
                    mid.resize(size_t(T * c.hidden_dim));
                    fwd.ffn_part(l, x.data(), T, mid.data());
                    tap(Tap::FfnMid, mid.data(), T, c.hidden_dim);
                    const uint64_t bytes = mid.size() * sizeof(float);
                    if (l + 1 < last && cached + bytes <= opt.ffn_cache_bytes) {
                        mids[i].swap(mid);
                        cached += bytes;
                    }
                }
            });
            quantize_group(l, groups[3]);
            // The quantized block's outputs feed the next block.
            const auto tf = Clock::now();
            if (l + 1 < last) {
                for (size_t i = 0; i < acts.size(); ++i) {
                    const int64_t T = seq_len_of(i);
                    inner.load(i, x);
                    if (mids[i].empty()) {
                        mid.resize(size_t(T * c.hidden_dim));
                        fwd.ffn_part(l, x.data(), T, mid.data());
                    } else {
                        mid.swap(mids[i]);
                        std::vector<float>().swap(mids[i]);
                    }
                    fwd.add_ffn_output(l, mid.data(), T, x.data());
                    acts.store(i, x);
                }
            }
            prog.forward_s += seconds_since(tf);
        }
        for (HessianPtr &h : hess) h.reset();
        const auto tw = Clock::now();
        if (opt.block_done) opt.block_done(l);
        prog.write_s = seconds_since(tw);
        prog.block_done = true;
        if (progress) progress(prog);
        prog.block_done = false;
        prog.forward_s = prog.hessian_s = prog.quantize_s = prog.metrics_s = prog.write_s = 0.0;
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
