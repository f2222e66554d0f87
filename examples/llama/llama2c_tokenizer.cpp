#include "llama2c_tokenizer.h"

#include "error.h"
#include "file_io.h"

#include <cmath>
#include <cstring>
#include <queue>

namespace llama {

Llama2cTokenizer::Llama2cTokenizer(const std::string &path, int64_t vocab_size) {
    MappedFile f(path);
    const char *fn = path.c_str();
    size_t pos = 0;
    auto read = [&](void *dst, size_t n) {
        if (n > f.size() - pos) fail(GPTQ_ERR_FORMAT, "%s: truncated tokenizer file", fn);
        std::memcpy(dst, f.data() + pos, n);
        pos += n;
    };
    int32_t max_len = 0;
    read(&max_len, 4);
    if (max_len <= 0 || max_len > 4096)
        fail(GPTQ_ERR_FORMAT, "%s: bad max_token_length %d", fn, max_len);
    while (pos < f.size() && (vocab_size <= 0 || int64_t(pieces_.size()) < vocab_size)) {
        float score;
        int32_t len;
        read(&score, 4);
        read(&len, 4);
        if (len < 0 || len > max_len)
            fail(GPTQ_ERR_FORMAT, "%s: token %zu has length %d (max %d)", fn, pieces_.size(), len,
                 max_len);
        if (!std::isfinite(score))
            fail(GPTQ_ERR_FORMAT, "%s: token %zu has a non-finite score", fn, pieces_.size());
        std::string s(size_t(len), '\0');
        if (len) read(&s[0], size_t(len));
        pieces_.push_back(std::move(s));
        scores_.push_back(score);
    }
    if (vocab_size > 0 && int64_t(pieces_.size()) != vocab_size)
        fail(GPTQ_ERR_FORMAT, "%s: %zu tokens, the model has %lld", fn, pieces_.size(),
             (long long)vocab_size);
    if (pos != f.size()) fail(GPTQ_ERR_FORMAT, "%s: trailing bytes after the last token", fn);
    if (pieces_.size() < size_t(kByteBase + 256))
        fail(GPTQ_ERR_FORMAT, "%s: %zu tokens is too few for byte fallback", fn, pieces_.size());
    // First occurrence wins for duplicated pieces, as a sorted binary search would find one.
    for (size_t i = 0; i < pieces_.size(); ++i) index_.emplace(pieces_[i], int32_t(i));
    // A newline is one symbol: the piece "\n" if there is one, else the byte token <0x0A>. It
    // can only ever merge if some longer piece contains that symbol's text.
    const std::string nl = lookup("\n") >= 0 ? std::string("\n") : pieces_[size_t(kByteBase + '\n')];
    newline_isolated_ = true;
    for (const std::string &p : pieces_)
        if (p.size() > nl.size() && p.find(nl) != std::string::npos)
            newline_isolated_ = false;
}

int32_t Llama2cTokenizer::lookup(const std::string &s) const {
    auto it = index_.find(s);
    return it == index_.end() ? -1 : it->second;
}

namespace {

// A candidate merge of the symbol at `left` with its right neighbour `right` into `id`.
// Entries go stale when either side merges first; they are recognised by the ids they were
// made from.
struct Candidate {
    float score;
    uint32_t left, right;
    int32_t left_id, right_id, id;
};

// Best score first; among equal scores the leftmost pair, as a left-to-right scan finds it
// (a merged symbol keeps its left part's index, so indices stay in text order).
struct WorseCandidate {
    bool operator()(const Candidate &a, const Candidate &b) const {
        if (a.score != b.score) return a.score < b.score;
        return a.left > b.left;
    }
};

// Scores at or below this never merge (the original scan started its search from it).
constexpr float kNoMerge = -1e10f;

} // namespace

std::vector<int32_t> Llama2cTokenizer::encode(const std::string &text, bool bos) const {
    std::vector<int32_t> ids;
    if (bos) ids.push_back(kBos);
    encode_piece(text, 0, text.size(), ids);
    return ids;
}

std::vector<int32_t> Llama2cTokenizer::encode_prefix(const std::string &text, bool bos,
                                                     size_t min_tokens) const {
    if (min_tokens == 0 || !newline_isolated_) return encode(text, bos);
    std::vector<int32_t> ids;
    if (bos) ids.push_back(kBos);
    // Lines of about 4 KB at a time; a newline never merges, so cutting after one is exact.
    constexpr size_t kChunk = 4096;
    size_t from = 0;
    while (from < text.size() && ids.size() < min_tokens) {
        size_t to = text.size();
        if (text.size() - from > kChunk) {
            const size_t nl = text.find('\n', from + kChunk);
            if (nl != std::string::npos) to = nl + 1;
        }
        encode_piece(text, from, to, ids);
        from = to;
    }
    return ids;
}

void Llama2cTokenizer::encode_piece(const std::string &text, size_t from, size_t to,
                                    std::vector<int32_t> &ids) const {
    std::vector<int32_t> t;
    if (from == 0 && !text.empty()) {
        const int32_t space = lookup(" ");
        if (space >= 0) t.push_back(space);
    }
    // One token per UTF-8 code point when the vocabulary has it, else its bytes.
    size_t i = from;
    while (i < to) {
        size_t j = i + 1;
        while (j < to && j - i < 4 && (uint8_t(text[j]) & 0xc0) == 0x80) ++j;
        const int32_t id = lookup(text.substr(i, j - i));
        if (id >= 0) {
            t.push_back(id);
        } else {
            for (size_t b = i; b < j; ++b) t.push_back(kByteBase + int32_t(uint8_t(text[b])));
        }
        i = j;
    }
    // Repeatedly merge the adjacent pair whose concatenation has the best score (ties: the
    // leftmost pair). A doubly linked list of symbols and a queue of candidate merges make
    // this O(n log n) instead of a rescan of the whole text per merge.
    const uint32_t n = uint32_t(t.size());
    constexpr uint32_t kNone = UINT32_MAX;
    std::vector<uint32_t> prev(n), next(n);
    std::vector<bool> alive(n, true);
    for (uint32_t k = 0; k < n; ++k) {
        prev[k] = k == 0 ? kNone : k - 1;
        next[k] = k + 1 == n ? kNone : k + 1;
    }
    std::priority_queue<Candidate, std::vector<Candidate>, WorseCandidate> queue;
    auto offer = [&](uint32_t left, uint32_t right) {
        if (left == kNone || right == kNone) return;
        const int32_t a = t[left], b = t[right];
        const int32_t id = lookup(pieces_[size_t(a)] + pieces_[size_t(b)]);
        if (id >= 0 && scores_[size_t(id)] > kNoMerge)
            queue.push({scores_[size_t(id)], left, right, a, b, id});
    };
    for (uint32_t k = 0; k + 1 < n; ++k) offer(k, k + 1);
    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right ||
            t[c.left] != c.left_id || t[c.right] != c.right_id)
            continue;
        t[c.left] = c.id;
        alive[c.right] = false;
        next[c.left] = next[c.right];
        if (next[c.left] != kNone) prev[next[c.left]] = c.left;
        offer(prev[c.left], c.left);
        offer(c.left, next[c.left]);
    }
    for (uint32_t k = 0; k < n; ++k)
        if (alive[k]) ids.push_back(t[k]);
}

std::string Llama2cTokenizer::decode(const std::vector<int32_t> &ids) const {
    std::string out;
    int32_t prev = kBos;  // the space encode() prepends is dropped, with or without a BOS
    for (int32_t id : ids) {
        if (id != kBos && id != kEos) out += decode(prev, id);
        prev = id;
    }
    return out;
}

std::string Llama2cTokenizer::decode(int32_t prev, int32_t token) const {
    if (token < 0 || size_t(token) >= pieces_.size()) return "";
    const std::string &p = pieces_[size_t(token)];
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
        char *end = nullptr;
        const long v = std::strtol(p.c_str() + 3, &end, 16);
        if (end == p.c_str() + 5) return std::string(1, char(v));
    }
    if (prev == kBos && !p.empty() && p[0] == ' ') return p.substr(1);
    return p;
}

} // namespace llama
