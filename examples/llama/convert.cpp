#include "convert.h"

#include "error.h"

#include <algorithm>
#include <vector>

namespace llama {

void permute_interleaved_to_halves(float *w, int64_t n_heads, int64_t head_dim, int64_t cols) {
    const int64_t half = head_dim / 2;
    std::vector<float> head(size_t(head_dim * cols));
    for (int64_t h = 0; h < n_heads; ++h) {
        float *base = w + h * head_dim * cols;
        std::copy(base, base + head_dim * cols, head.begin());
        for (int64_t i = 0; i < half; ++i)
            for (int64_t t = 0; t < 2; ++t)
                std::copy_n(&head[size_t((2 * i + t) * cols)], cols, base + (t * half + i) * cols);
    }
}

void to_hf_layout(Model &m) {
    if (m.cfg.rope == RopeStyle::Halves) return;
    for (Block &b : m.blocks) {
        if (b.lin[kQ].quantized() || b.lin[kK].quantized())
            fail(GPTQ_ERR_UNSUPPORTED, "cannot convert quantized q/k layers to the HF layout");
        permute_interleaved_to_halves(b.lin[kQ].weight().data(), m.cfg.n_heads, m.cfg.head_dim,
                                      b.lin[kQ].k());
        permute_interleaved_to_halves(b.lin[kK].weight().data(), m.cfg.n_kv_heads, m.cfg.head_dim,
                                      b.lin[kK].k());
    }
    m.cfg.rope = RopeStyle::Halves;
}

} // namespace llama
