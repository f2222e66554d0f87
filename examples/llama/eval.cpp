#include "eval.h"

#include "error.h"

#include <cmath>
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
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end || x < 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "bad document range '%s' (expected A:B)", s.c_str());
        return int64_t(x);
    };
    if (colon == std::string::npos) {
        r.first = r.last = num(s);
    } else {
        r.first = colon == 0 ? 0 : num(s.substr(0, colon));
        r.last = colon + 1 == s.size() ? -1 : num(s.substr(colon + 1));
    }
    if (r.last >= 0 && r.last < r.first)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "bad document range '%s': end before start", s.c_str());
    return r;
}

std::vector<std::string> select_documents(const std::vector<std::string> &docs, DocRange r) {
    const int64_t n = int64_t(docs.size());
    const int64_t last = r.last < 0 ? n - 1 : r.last;
    if (r.first >= n || last >= n)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "document range %lld:%lld outside the %lld documents",
             (long long)r.first, (long long)last, (long long)n);
    return std::vector<std::string>(docs.begin() + r.first, docs.begin() + last + 1);
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
    const int64_t V = fwd.model().cfg.vocab_size;
    EvalResult r;
    std::vector<LayerKV> cache;
    for (size_t s = 0; s < seqs.size(); ++s) {
        const std::vector<int32_t> &ids = seqs[s];
        if (ids.size() >= 2) {
            const std::vector<float> logits = fwd.logits(ids, 0, cache);
            for (size_t t = 0; t + 1 < ids.size(); ++t) {
                const float *l = &logits[t * size_t(V)];
                // log-sum-exp in double so long vocabularies lose nothing.
                double mx = l[0];
                for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
                double sum = 0.0;
                for (int64_t v = 0; v < V; ++v) sum += std::exp(double(l[v]) - mx);
                r.nll_sum += mx + std::log(sum) - double(l[ids[t + 1]]);
                r.tokens += 1;
            }
        }
        if (progress) progress(s + 1, seqs.size());
    }
    if (!std::isfinite(r.nll_sum)) fail(GPTQ_ERR_NON_FINITE, "evaluation produced a non-finite loss");
    return r;
}

} // namespace llama
