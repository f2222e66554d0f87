// A Llama-family model in memory: linear layers (and the embedding table) fp32, a view of the
// stored tensor or GPTQ-quantized; norms and biases fp32.
#pragma once

#include <gptq/gptq.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llama {

// llama2.c rotates adjacent pairs (x[2i], x[2i+1]); Hugging Face Llama rotates halves
// (x[i], x[i + head_dim/2]). Same model once wq/wk rows are permuted (see convert.h).
enum class RopeStyle { Interleaved, Halves };

// Llama 3's frequency-dependent RoPE rescaling (rope_scaling.rope_type "llama3"): long
// wavelengths are divided by factor, short ones kept, the band between interpolated.
struct RopeScaling {
    bool llama3 = false;
    double factor = 1.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
    int64_t original_max_positions = 8192;
};

struct Config {
    int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
    int64_t vocab_size = 0, seq_len = 0, head_dim = 0;
    float norm_eps = 1e-5f;
    float rope_theta = 10000.0f;
    bool tied_embeddings = true;
    RopeStyle rope = RopeStyle::Halves;
    int32_t bos_id = 1, eos_id = 2;
    RopeScaling rope_scaling;
    bool qk_norm = false;        // Qwen3: per-head RMSNorm of q and k before RoPE
    int64_t sliding_window = 0;  // Mistral/Qwen2 attention window; 0 = none

    int64_t q_dim() const { return n_heads * head_dim; }
    int64_t kv_dim() const { return n_kv_heads * head_dim; }
    // Longest sequence the forward computes exactly: the trained context, or the sliding
    // window when that is shorter (attention beyond it is not implemented).
    int64_t context_length() const {
        return sliding_window > 0 && sliding_window < seq_len ? sliding_window : seq_len;
    }
};

// The seven linear layers of a block, in the order of the true-sequential groups.
enum Module { kQ, kK, kV, kO, kGate, kUp, kDown, kNumModules };
const char *module_short_name(int m);  // "q_proj", ..., "down_proj"
std::string module_hf_name(int layer, int m);  // "model.layers.3.self_attn.q_proj"

// A linear layer y = W x: either a floating-point W [n x k] or a libgptq quantized layer.
// The floating-point weight is an fp32 vector, or a view of the stored tensor (F32/F16/BF16,
// memory-mapped by a lazy loader) that is converted only when fp32 is asked for. It runs as a
// libgptq dense layer (gptq_matmul_dense), made on the first apply() and kept resident on that
// context until the weight changes.
class Linear {
public:
    Linear() = default;
    Linear(int64_t n, int64_t k) : n_(n), k_(k) {}
    ~Linear() {
        gptq_qlayer_destroy(q_);
        gptq_dlayer_destroy(d_);
    }
    Linear(Linear &&o) noexcept { *this = std::move(o); }
    Linear &operator=(Linear &&o) noexcept;
    Linear(const Linear &) = delete;
    Linear &operator=(const Linear &) = delete;

    int64_t n() const { return n_; }
    int64_t k() const { return k_; }
    // Mutable access converts a stored view to fp32 (and releases the view) and drops the
    // resident dense copy, which would no longer match.
    std::vector<float> &weight();
    // The fp32 vector; empty while the weight is only a stored view (see matrix()).
    const std::vector<float> &weight() const { return w_; }
    // The floating-point weight as it is held (fp32 vector or stored view), row stride k.
    gptq_matrix matrix() const;
    // A view of the stored tensor [n x k] (row-major, dtype) in a read-only file mapping (its
    // pages are dropped with madvise, which would zero anonymous memory); the mapping must
    // outlive the layer or the next weight()/set_qlayer()/release().
    void set_source(const void *data, gptq_dtype dtype);
    // True while the weight is such a view (not converted to an fp32 vector).
    bool is_view() const { return src_ != nullptr; }
    // Row r of the floating-point weight widened to fp32: out[0 .. k). An embedding lookup.
    void row(int64_t r, float *out) const;
    const gptq_qlayer *qlayer() const { return q_; }
    bool quantized() const { return q_ != nullptr; }
    // Takes ownership; drops the floating-point weight.
    void set_qlayer(gptq_qlayer *q);
    // Drops everything (after the layer was written out): the layer is then empty.
    void release();

    // Y [m x n] = X [m x k] W^T. ctx must be the one the qlayer was made with.
    void apply(gptq_ctx *ctx, const float *x, int64_t m, float *y) const;
    // Frees the resident dense copy (the weight stays); the next apply() remakes it.
    void release_dense() const;
    // Makes the dense layer on ctx now (apply() would on first use) unless it is quantized.
    // A view's mapped pages are dropped once copied: the dense layer holds the weight.
    void make_dense(gptq_ctx *ctx) const;
    // The dtype the resident dense layer was made from; F32 (no layer) when !has_dense().
    bool has_dense() const { return d_ != nullptr; }
    gptq_dtype dense_dtype() const { return d_dtype_; }
    // Drops the pages of a view that reading it made resident (no-op for other weights).
    void release_view_pages() const;

private:
    int64_t n_ = 0, k_ = 0;
    std::vector<float> w_;
    const void *src_ = nullptr;  // stored view, when w_ is empty
    gptq_dtype src_dtype_ = GPTQ_DTYPE_F32;
    gptq_qlayer *q_ = nullptr;
    mutable gptq_dlayer *d_ = nullptr;   // resident copy of the weight on d_ctx_
    mutable gptq_ctx *d_ctx_ = nullptr;
    mutable gptq_dtype d_dtype_ = GPTQ_DTYPE_F32;

    void release_source();
};

struct Block {
    std::vector<float> attn_norm, ffn_norm;
    std::array<Linear, kNumModules> lin;
    // Per-module bias [n] added after the product (Qwen2's q/k/v); empty: none. Kept
    // outside Linear so it stays fp32 and is stored unquantized as "<module>.bias".
    std::array<std::vector<float>, kNumModules> bias;
    std::vector<float> q_norm, k_norm;  // [head_dim] each when cfg.qk_norm, else empty
};

// How the quantized layers of a model were made (docs/gptq-reference.md §5 quantize_config.json).
struct QuantConfig {
    bool quantized = false;
    int bits = 4;
    int group_size = 128;
    bool desc_act = false;
    bool sym = false;
    bool static_groups = false;
    bool true_sequential = true;
    float damp_percent = 0.01f;
    std::string method = "gptq";  // "gptq" or "rtn" (both store the gptq layout)
    gptq_zeros_format zeros_format = GPTQ_ZEROS_V2;
};

struct Model {
    Config cfg;
    // [vocab x dim]: looked up by rows (Forward::embed), and the classifier when tied. A lazy
    // loader keeps it a view of the stored tensor, so it is never widened as a whole.
    Linear embed;
    std::vector<float> final_norm;  // [dim]
    Linear lm_head;                 // [vocab x dim]; empty (0 x 0) when tied to embed
    std::vector<Block> blocks;
    QuantConfig quant;
    std::string source_dtype = "F32";  // dtype of the unquantized tensors as read
    nlohmann::json hf_config;          // original config.json when read from HF, else null
    std::shared_ptr<const void> storage;  // mapped files that lazy layers point into

    const Linear &classifier() const { return cfg.tied_embeddings ? embed : lm_head; }
};

// Contiguous fp32 copy of a weight view (F32/F16/BF16, row stride == cols).
std::vector<float> matrix_to_f32(const gptq_matrix &m);

// Allocates a model's tensors (zeros) for cfg, for loaders.
void allocate_model(Model &m);

// Everything a forward pass needs made resident now, for eval and generate: a dense layer on
// ctx for every unquantized linear and the classifier, each in the dtype its weight is held
// in, with the mapped pages of views dropped once copied. The embedding table stays as held
// (a view is read row by row).
void make_resident(const Model &m, gptq_ctx *ctx);

} // namespace llama
