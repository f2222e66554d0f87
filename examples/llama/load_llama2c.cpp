#include "error.h"
#include "file_io.h"
#include "loaders.h"

#include <cstring>

namespace llama {

void validate_config(const Config &c, const std::string &source) {
    const char *s = source.c_str();
    // Generous limits (far above any Llama) that keep every product below 2^62.
    const int64_t kMaxDim = 1 << 20, kMaxLayers = 4096, kMaxVocab = 1 << 22;
    if (c.dim <= 0 || c.dim > kMaxDim || c.hidden_dim <= 0 || c.hidden_dim > kMaxDim)
        fail(GPTQ_ERR_FORMAT, "%s: bad dim %lld / hidden_dim %lld", s, (long long)c.dim,
             (long long)c.hidden_dim);
    if (c.n_layers <= 0 || c.n_layers > kMaxLayers)
        fail(GPTQ_ERR_FORMAT, "%s: bad n_layers %lld", s, (long long)c.n_layers);
    if (c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads > kMaxDim || c.n_heads % c.n_kv_heads)
        fail(GPTQ_ERR_FORMAT, "%s: n_heads %lld is not a multiple of n_kv_heads %lld", s,
             (long long)c.n_heads, (long long)c.n_kv_heads);
    if (c.head_dim <= 0 || c.head_dim % 2 || c.head_dim > kMaxDim ||
        c.n_heads * c.head_dim > kMaxDim)
        fail(GPTQ_ERR_FORMAT, "%s: bad head_dim %lld", s, (long long)c.head_dim);
    if (c.vocab_size <= 0 || c.vocab_size > kMaxVocab)
        fail(GPTQ_ERR_FORMAT, "%s: bad vocab_size %lld", s, (long long)c.vocab_size);
    if (c.seq_len <= 0 || c.seq_len > (1 << 24))
        fail(GPTQ_ERR_FORMAT, "%s: bad seq_len %lld", s, (long long)c.seq_len);
    // Finite and plausible: a huge epsilon or base silently flattens the model's output.
    if (!(c.norm_eps > 0.0f && c.norm_eps <= 0.1f) || !(c.rope_theta >= 1.0f && c.rope_theta <= 1e10f))
        fail(GPTQ_ERR_FORMAT, "%s: bad rms_norm_eps %g or rope_theta %g", s, double(c.norm_eps),
             double(c.rope_theta));
}

namespace {

// Sequential reader over the mapped file that refuses to read past its end.
struct Cursor {
    const MappedFile &f;
    size_t pos = 0;
    void read(float *dst, int64_t count) {
        const size_t bytes = size_t(count) * 4;
        if (bytes > f.size() - pos)
            fail(GPTQ_ERR_FORMAT, "%s: truncated llama2.c checkpoint", f.path().c_str());
        if (bytes) std::memcpy(dst, f.data() + pos, bytes);
        pos += bytes;
    }
    void skip(int64_t floats) {
        const size_t bytes = size_t(floats) * 4;
        if (bytes > f.size() - pos)
            fail(GPTQ_ERR_FORMAT, "%s: truncated llama2.c checkpoint", f.path().c_str());
        pos += bytes;
    }
};

} // namespace

Model load_llama2c(const std::string &path) {
    MappedFile f(path);
    const char *fn = path.c_str();
    if (f.size() < 28) fail(GPTQ_ERR_FORMAT, "%s: too small for a llama2.c header", fn);
    int32_t h[7];
    std::memcpy(h, f.data(), sizeof h);
    if (uint32_t(h[0]) == 0x616b3432u)
        fail(GPTQ_ERR_UNSUPPORTED, "%s: llama2.c version-1/2 export format is not supported; "
                                   "use the legacy format", fn);
    Model m;
    Config &c = m.cfg;
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    // A negative vocab size is llama2.c's flag for a separate classifier matrix.
    c.tied_embeddings = h[5] > 0;
    c.vocab_size = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -int64_t(h[5]) : h[5]);
    c.seq_len = h[6];
    c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
    c.rope = RopeStyle::Interleaved;
    if (c.n_heads > 0 && c.dim % c.n_heads)
        fail(GPTQ_ERR_FORMAT, "%s: dim %lld is not a multiple of n_heads %lld", fn,
             (long long)c.dim, (long long)c.n_heads);
    validate_config(c, path);

    // Check the exact size before allocating anything.
    const int64_t L = c.n_layers, D = c.dim, H = c.hidden_dim, KV = c.kv_dim();
    int64_t floats = c.vocab_size * D + 2 * L * D + L * D * D * 2 + 2 * L * KV * D +
                     3 * L * H * D + D + c.seq_len * c.head_dim;
    if (!c.tied_embeddings) floats += c.vocab_size * D;
    const uint64_t expected = 28 + uint64_t(floats) * 4;
    if (f.size() != expected)
        fail(GPTQ_ERR_FORMAT, "%s: %s llama2.c checkpoint: %zu bytes, expected %llu for this header",
             fn, f.size() < expected ? "truncated" : "oversized", f.size(),
             (unsigned long long)expected);

    allocate_model(m);
    Cursor cur{f, 28};
    cur.read(m.embed.weight().data(), c.vocab_size * D);
    for (Block &b : m.blocks) cur.read(b.attn_norm.data(), D);
    const Module order[] = {kQ, kK, kV, kO};
    for (Module mod : order)
        for (Block &b : m.blocks) cur.read(b.lin[mod].weight().data(), b.lin[mod].n() * b.lin[mod].k());
    for (Block &b : m.blocks) cur.read(b.ffn_norm.data(), D);
    // llama2.c's w1 is gate, w2 is down, w3 is up.
    const Module ffn_order[] = {kGate, kDown, kUp};
    for (Module mod : ffn_order)
        for (Block &b : m.blocks) cur.read(b.lin[mod].weight().data(), b.lin[mod].n() * b.lin[mod].k());
    cur.read(m.final_norm.data(), D);
    cur.skip(c.seq_len * c.head_dim);  // legacy RoPE tables (two of seq_len * head_dim / 2)
    if (!c.tied_embeddings) cur.read(m.lm_head.weight().data(), c.vocab_size * D);
    return m;
}

} // namespace llama
