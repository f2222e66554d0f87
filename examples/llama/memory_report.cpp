#include "memory_report.h"

#include <sys/resource.h>

#include <algorithm>

namespace llama {

uint64_t estimate_peak_bytes(const Model &m, int64_t tokens, int64_t seq_len) {
    const Config &c = m.cfg;
    const uint64_t f = 4;
    uint64_t embed = uint64_t(c.vocab_size * c.dim) * f * (c.tied_embeddings ? 1 : 2);
    uint64_t acts = 2 * uint64_t(tokens * c.dim) * f;
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

} // namespace llama
