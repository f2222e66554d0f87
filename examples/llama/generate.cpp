#include "generate.h"

#include "error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace llama {

namespace {

// splitmix64: small, seedable, identical on every platform.
double next_uniform(uint64_t &s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return double(z >> 11) * (1.0 / 9007199254740992.0);
}

} // namespace

int32_t sample_token(std::vector<float> &logits, const GenerateOptions &opt, uint64_t &rng) {
    const size_t V = logits.size();
    if (opt.temperature <= 0.0f)
        return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float &l : logits) {
        l = std::exp((l - mx) / opt.temperature);
        sum += l;
    }
    std::vector<int32_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    size_t keep = V;
    double mass = sum;
    if (opt.top_p > 0.0f && opt.top_p < 1.0f) {
        std::sort(order.begin(), order.end(),
                  [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
        double acc = 0.0;
        for (keep = 0; keep < V;) {
            acc += logits[size_t(order[keep++])];
            if (acc >= opt.top_p * sum) break;
        }
        mass = acc;
    }
    const double r = next_uniform(rng) * mass;
    double acc = 0.0;
    for (size_t i = 0; i < keep; ++i) {
        acc += logits[size_t(order[i])];
        if (r < acc) return order[i];
    }
    return order[keep - 1];
}

std::string generate(const Forward &fwd, const Tokenizer &tok, const std::string &prompt,
                     const GenerateOptions &opt,
                     const std::function<void(const std::string &)> &on_piece) {
    const Config &c = fwd.model().cfg;
    std::vector<int32_t> ids = tok.encode(prompt, true);
    if (int64_t(ids.size()) >= c.seq_len)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "prompt has %zu tokens; the model's context is %lld",
             ids.size(), (long long)c.seq_len);
    std::vector<LayerKV> cache;
    std::vector<float> all = fwd.logits(ids, 0, cache);
    std::vector<float> last(all.end() - c.vocab_size, all.end());
    uint64_t rng = opt.seed;
    std::string out;
    int32_t prev = ids.back();
    int64_t pos = int64_t(ids.size());
    for (int64_t step = 0; step < opt.steps && pos < c.seq_len; ++step, ++pos) {
        const int32_t next = sample_token(last, opt, rng);
        if (opt.stop_at_eos && (next == c.eos_id || next == tok.bos_id())) break;
        const std::string piece = tok.decode(prev, next);
        out += piece;
        if (on_piece) on_piece(piece);
        prev = next;
        last = fwd.logits({next}, pos, cache);
    }
    return out;
}

} // namespace llama
