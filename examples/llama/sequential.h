// Whole-model quantization (docs/gptq-reference.md §6): blocks in order, each calibrated on
// the outputs of the already-quantized blocks before it; inside a block, true-sequential
// module groups [q,k,v] -> [o] -> [gate,up] -> [down], each group's inputs computed with the
// groups before it quantized (the block's intermediate states are kept between groups, not
// recomputed). Embeddings and lm_head stay unquantized (in their stored dtype).
#pragma once

#include "forward.h"

#include <functional>
#include <string>
#include <vector>

namespace llama {

struct QuantizeOptions {
    gptq_quant_params params;  // every core option; layer_name/progress are set per layer
    bool rtn = false;          // round-to-nearest instead of GPTQ (needs no calibration)
    bool true_sequential = true;
    // Also round each layer to nearest on the same Hessian, for the GPTQ-vs-RTN table.
    bool compare_rtn = true;
    // checkpoint_format of the stored zero points; 0: v1 ("gptq") when sym, else v2.
    gptq_zeros_format zeros_format = gptq_zeros_format(0);
    // Called when a block is quantized and its output computed (the block is no longer
    // needed), e.g. to write it out and free it.
    std::function<void(int layer)> block_done;
    // Blocks [first_layer, last_layer) are quantized (last_layer -1: to the end); the blocks
    // before only run forward, the blocks after are not touched.
    int first_layer = 0, last_layer = -1;
    // dtype the calibration activations are kept in between blocks (F16/BF16 halve their
    // memory at the price of rounding them).
    gptq_dtype act_dtype = GPTQ_DTYPE_F32;
    // Bytes of SwiGLU outputs (down_proj's inputs, fp32) kept from the down group's
    // calibration pass for the pass that computes the block's output, instead of computing
    // gate and up again; sequences beyond the budget are recomputed (same numbers).
    uint64_t ffn_cache_bytes = uint64_t(512) << 20;
    QuantizeOptions() { gptq_quant_params_init(&params); }
};

struct LayerRecord {
    int layer = 0, module = 0;
    int64_t n = 0, k = 0;
    double gptq_loss = 0.0;  // the GPTQ objective sum (w-q)^2/d^2/2 (GPTQ only)
    // tr(D H D^T) / tr(W H W^T): GPTQ's from the quantize report (the layer before its
    // scales are rounded to fp16), RTN's of the stored layer; -1: unknown
    double rel_error = -1.0;
    double rtn_rel_error = -1.0;  // same for round-to-nearest on the same H; -1: not computed
    double damp_used = 0.0;
    int damp_retries = 0;
    double seconds = 0.0;
};

struct QuantizeProgress {
    int64_t done = 0, total = 0;  // modules
    int layer = 0, module = 0;
    // Seconds spent so far in the current block, by phase: the calibration forward passes
    // (without the Hessian accumulation), gptq_hessian_add, quantization (GPTQ or RTN and
    // the checkpoint round trip), the error metrics of the table, and block_done (writing).
    double forward_s = 0.0, hessian_s = 0.0, quantize_s = 0.0, metrics_s = 0.0, write_s = 0.0;
    bool block_done = false;  // this call reports the end of block `layer`
    // What runs now when it is not a module's quantization, e.g. "layer 3 calibrating
    // gate_proj+up_proj 12/32" (the calibration forward of a group, by sequence); empty
    // in the calls that report a finished module.
    std::string activity;
};
using QuantizeProgressFn = std::function<void(const QuantizeProgress &)>;

// Quantizes every linear layer of m in place (they must be fp32). calib: token sequences
// (may be empty for RTN). Records the choices in m.quant. The stored layers hold exactly
// what a checkpoint stores (fp16 scales), so the in-memory model equals its checkpoint.
// The checkpoint_format the layers are stored in: opt.zeros_format, else v1 ("gptq") for a
// symmetric grid and v2 for an asymmetric one.
gptq_zeros_format checkpoint_zeros_format(const QuantizeOptions &opt);

std::vector<LayerRecord> quantize_model(Model &m, gptq_ctx *ctx,
                                        const std::vector<std::vector<int32_t>> &calib,
                                        const QuantizeOptions &opt,
                                        const QuantizeProgressFn &progress = nullptr);

// tr(D H D^T) / tr(W H W^T) with D = W - dequant(q); H [k x k].
double relative_output_error(gptq_ctx *ctx, const gptq_qlayer *q, const gptq_matrix &w,
                             const std::vector<float> &h);

// Rebuilds q from its checkpoint tensors (fp16 scales, zeros in fmt): the layer a reader of
// the checkpoint gets. Destroys q.
gptq_qlayer *through_checkpoint_layout(gptq_ctx *ctx, gptq_qlayer *q, gptq_zeros_format fmt);

} // namespace llama
