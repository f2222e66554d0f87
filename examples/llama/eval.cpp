#include "eval.h"

#include "error.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace llama {

std::vector<std::string> split_documents(const std::string &text) {
    static const std::string kSep = "<|endoftext|>";
    std::vector<std::string> docs;
    std::string cur;
    size_t pos = 0;
    auto flush = [&] {
        if (!cur.empty() && cur.back() == '\n') cur.pop_back();
        if (!cur.empty()) docs.push_back(cur);
        cur.clear();
    };
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        const size_t end = eol == std::string::npos ? text.size() : eol;
        std::string line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == kSep) {
            flush();
        } else {
            cur += text.substr(pos, end - pos);
            if (eol != std::string::npos) cur += '\n';
        }
        pos = eol == std::string::npos ? text.size() : eol + 1;
    }
    flush();
    return docs;
}

DocRange parse_doc_range(const std::string &s) {
    DocRange r;
    const size_t colon = s.find(':');
    auto num = [&](const std::string &v) {
        char *end = nullptr;
        errno = 0;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end || x < 0 || errno)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "bad document range '%s' (expected A:B)", s.c_str());
        return int64_t(x);
    };
    if (colon == std::string::npos) {
        r.first = num(s);
        r.end = r.first + 1;
    } else {
        r.first = colon == 0 ? 0 : num(s.substr(0, colon));
        r.end = colon + 1 == s.size() ? -1 : num(s.substr(colon + 1));
    }
    if (r.end >= 0 && r.end <= r.first)
        fail(GPTQ_ERR_INVALID_ARGUMENT,
             "bad document range '%s': empty (A:B means documents A to B-1)", s.c_str());
    return r;
}

std::vector<std::string> select_documents(const std::vector<std::string> &docs, DocRange r) {
    const int64_t n = int64_t(docs.size());
    const int64_t end = r.end < 0 ? n : r.end;
    if (r.first >= n || end > n)
        fail(GPTQ_ERR_INVALID_ARGUMENT,
             "document range %lld:%lld outside the %lld documents (valid: 0:%lld)",
             (long long)r.first, (long long)end, (long long)n, (long long)n);
    return std::vector<std::string>(docs.begin() + r.first, docs.begin() + end);
}

namespace {

// splitmix64: a small, well-mixed generator whose sequence is the same on every platform
// (std::uniform_int_distribution is not).
uint64_t next_random(uint64_t &state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias.
uint64_t uniform_below(uint64_t &state, uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        const uint64_t x = next_random(state);
        if (x < limit) return x % bound;
    }
}

} // namespace

std::vector<std::vector<int32_t>> sample_windows(const std::vector<int32_t> &tokens, int64_t n,
                                                 int64_t len, uint64_t seed) {
    const int64_t total = int64_t(tokens.size());
    if (n <= 0 || len <= 0)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "need a positive number (%lld) and length (%lld) of windows",
             (long long)n, (long long)len);
    if (total < len)
        fail(GPTQ_ERR_INVALID_ARGUMENT,
             "the calibration text has %lld tokens, fewer than one window of %lld",
             (long long)total, (long long)len);
    std::vector<std::vector<int32_t>> out;
    uint64_t state = seed;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t start = int64_t(uniform_below(state, uint64_t(total - len + 1)));
        out.emplace_back(tokens.begin() + start, tokens.begin() + start + len);
    }
    return out;
}

std::vector<std::vector<int32_t>> split_windows(const std::vector<int32_t> &tokens, int64_t len) {
    if (len < 2) fail(GPTQ_ERR_INVALID_ARGUMENT, "windows need at least 2 tokens, got %lld", (long long)len);
    const int64_t count = int64_t(tokens.size()) / len;
    if (count == 0)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "the text has %zu tokens, fewer than one window of %lld",
             tokens.size(), (long long)len);
    std::vector<std::vector<int32_t>> out;
    for (int64_t i = 0; i < count; ++i)
        out.emplace_back(tokens.begin() + i * len, tokens.begin() + (i + 1) * len);
    return out;
}

std::vector<std::vector<int32_t>> tokenize_documents(const Tokenizer &tok,
                                                     const std::vector<std::string> &docs,
                                                     int64_t seq_len) {
    std::vector<std::vector<int32_t>> out;
    for (const std::string &d : docs) {
        std::vector<int32_t> ids = tok.encode(d, true);
        if (int64_t(ids.size()) > seq_len) ids.resize(size_t(seq_len));
        out.push_back(std::move(ids));
    }
    return out;
}

double EvalResult::perplexity() const { return std::exp(mean_nll()); }

EvalResult evaluate(const Forward &fwd, const std::vector<std::vector<int32_t>> &seqs,
                    const std::function<void(size_t, size_t)> &progress) {
    const Config &c = fwd.model().cfg;
    const int64_t V = c.vocab_size;
    // Logits are made a few rows at a time: a 2048-token window of a 150k vocabulary would
    // otherwise need 1.2 GB of them at once.
    const int64_t kHeadRows = 64;
    EvalResult r;
    std::vector<LayerKV> cache(size_t(c.n_layers));
    for (size_t s = 0; s < seqs.size(); ++s) {
        const std::vector<int32_t> &ids = seqs[s];
        const int64_t T = int64_t(ids.size());
        if (T >= 2) {
            std::vector<float> x = fwd.embed(ids);
            for (int l = 0; l < int(c.n_layers); ++l) {
                cache[size_t(l)].reserve(c, T);
                fwd.block(l, x.data(), T, 0, cache[size_t(l)]);
            }
            for (int64_t t0 = 0; t0 + 1 < T; t0 += kHeadRows) {
                const int64_t rows = std::min(kHeadRows, T - 1 - t0);
                const std::vector<float> logits = fwd.head(&x[size_t(t0 * c.dim)], rows);
                for (int64_t i = 0; i < rows; ++i) {
                    const float *l = &logits[size_t(i * V)];
                    // log-sum-exp in double so long vocabularies lose nothing.
                    double mx = l[0];
                    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
                    double sum = 0.0;
                    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(l[v]) - mx);
                    r.nll_sum += mx + std::log(sum) - double(l[ids[size_t(t0 + i + 1)]]);
                    r.tokens += 1;
                }
            }
        }
        if (progress) progress(s + 1, seqs.size());
    }
    if (!std::isfinite(r.nll_sum)) fail(GPTQ_ERR_NON_FINITE, "evaluation produced a non-finite loss");
    return r;
}

} // namespace llama
