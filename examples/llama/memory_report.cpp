#include "memory_report.h"

#include <sys/resource.h>

#include <algorithm>

namespace llama {

uint64_t estimate_peak_bytes(const Model &m, int64_t tokens, int64_t seq_len, gptq_dtype act_dtype,
                             uint64_t ffn_cache_bytes) {
    const Config &c = m.cfg;
    const uint64_t f = 4;
    const uint64_t embed_es = m.embed.matrix().dtype == GPTQ_DTYPE_F32 ? 4 : 2;
    const uint64_t table = uint64_t(c.vocab_size * c.dim) * embed_es;
    // A mapped table is resident only in the rows the calibration looks up; an untied
    // lm_head is read once, when it is copied into the checkpoint.
    uint64_t embed = m.embed.is_view()
                         ? std::min(table, uint64_t(tokens) * uint64_t(c.dim) * embed_es)
                         : table;
    if (!c.tied_embeddings) embed += table;
    // The activations entering the block and the state kept inside it (the attention
    // output, then the residual stream): sequential.cpp's two stores.
    const uint64_t act_es = act_dtype == GPTQ_DTYPE_F32 ? 4 : 2;
    uint64_t acts = uint64_t(tokens) * uint64_t(c.dim + std::max(c.dim, c.q_dim())) * act_es;
    // SwiGLU outputs kept between the last two passes of a block (QuantizeOptions).
    acts += std::min(ffn_cache_bytes, uint64_t(tokens) * uint64_t(c.hidden_dim) * f);
    uint64_t block = 0, largest = 0, k_max = 0;
    if (!m.blocks.empty())
        for (const Linear &lin : m.blocks[0].lin) {
            const gptq_matrix w = lin.matrix();
            const uint64_t es = w.dtype == GPTQ_DTYPE_F32 ? 4 : 2;
            block += uint64_t(lin.n() * lin.k()) * es * 2;  // stored + dense copy
            largest = std::max<uint64_t>(largest, uint64_t(lin.n() * lin.k()) * f * 3);
            k_max = std::max<uint64_t>(k_max, uint64_t(lin.k()));
        }
    const uint64_t hessians = 2 * k_max * k_max * f;
    const uint64_t seq = uint64_t(seq_len) *
                         uint64_t(4 * c.dim + 2 * c.q_dim() + 2 * c.kv_dim() + 3 * c.hidden_dim) * f;
    return embed + acts + block + largest + hessians + seq;
}

uint64_t peak_rss_bytes() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return uint64_t(ru.ru_maxrss) * 1024;  // Linux reports kilobytes
}

namespace {

uint64_t dtype_bytes(gptq_dtype d) { return d == GPTQ_DTYPE_F32 ? 4 : 2; }

uint64_t packed_bytes(const gptq_qlayer *q) {
    gptq_qlayer_info info{};
    info.struct_size = sizeof info;
    if (gptq_qlayer_get_info(q, &info) != GPTQ_OK) return 0;
    return uint64_t(info.qweight_rows * info.qweight_cols) * 4 +
           uint64_t(info.qzeros_rows * info.qzeros_cols) * 4 +
           uint64_t(info.scales_rows * info.scales_cols) * 2 + uint64_t(info.g_idx_len) * 4;
}

// lin's share; is_table: it is the embedding table, whose view the lookups keep reading.
void add_linear(ResidentSizes &r, const Linear &lin, bool is_table, bool dense_in_f32) {
    const uint64_t elems = uint64_t(lin.n()) * uint64_t(lin.k());
    if (lin.quantized()) {
        ++r.quantized_layers;
        r.quantized_bytes += packed_bytes(lin.qlayer());
        return;
    }
    if (lin.has_dense()) {
        const gptq_dtype d = dense_in_f32 ? GPTQ_DTYPE_F32 : lin.dense_dtype();
        ++r.dense_layers;
        r.dense_bytes += elems * dtype_bytes(d);
        r.dense_dtypes |= 1u << d;
    }
    if (!lin.weight().empty()) {
        r.f32_bytes += elems * 4;
    } else if (lin.is_view() && (is_table || !lin.has_dense())) {
        const gptq_dtype d = lin.matrix().dtype;
        r.mapped_bytes += elems * dtype_bytes(d);
        r.mapped_dtypes |= 1u << d;
    }
}

} // namespace

ResidentSizes resident_sizes(const Model &m, gptq_ctx *ctx) {
    ResidentSizes r;
    const bool dense_in_f32 = ctx && gptq_ctx_backend(ctx) == GPTQ_BACKEND_CUDA;
    add_linear(r, m.embed, true, dense_in_f32);
    if (!m.cfg.tied_embeddings) add_linear(r, m.lm_head, false, dense_in_f32);
    r.f32_bytes += m.final_norm.size() * 4;
    for (const Block &b : m.blocks) {
        for (const Linear &lin : b.lin) add_linear(r, lin, false, dense_in_f32);
        r.f32_bytes += (b.attn_norm.size() + b.ffn_norm.size() + b.q_norm.size() + b.k_norm.size()) * 4;
        for (const std::vector<float> &bias : b.bias) r.f32_bytes += bias.size() * 4;
    }
    return r;
}

std::string dtype_names(uint32_t mask) {
    std::string s;
    const char *names[] = {"f32", "f16", "bf16"};
    const gptq_dtype dtypes[] = {GPTQ_DTYPE_F32, GPTQ_DTYPE_F16, GPTQ_DTYPE_BF16};
    for (int i = 0; i < 3; ++i)
        if (mask & (1u << dtypes[i])) s += (s.empty() ? "" : "+") + std::string(names[i]);
    return s.empty() ? "-" : s;
}

} // namespace llama
