#include "bpe.h"

#include "byte_level.h"
#include "error.h"
#include "hf_normalizer.h"
#include "utf8.h"

#include <cstdio>
#include <algorithm>

namespace llama {

namespace {

// Words longer than this (in bytes) are not cached: rare, and they would crowd the cache.
constexpr size_t kMaxCachedWord = 64;
constexpr size_t kMaxCacheEntries = 1u << 18;

// A possible merge of the symbol at `left` with its right neighbour into `id`; stale once
// either side has merged with something else (then the pair no longer gives `id`).
struct Candidate {
    int32_t rank;
    uint32_t left;
    int32_t id;
};

struct LaterCandidate {
    bool operator()(const Candidate &a, const Candidate &b) const {
        return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    }
};

std::pair<std::string, std::string> parse_merge(const nlohmann::json &m, size_t i) {
    if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: merge %zu '%s' is not two tokens", i, s.c_str());
        return {s.substr(0, sp), s.substr(sp + 1)};
    }
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        return {m[0].get<std::string>(), m[1].get<std::string>()};
    fail(GPTQ_ERR_FORMAT, "tokenizer.json: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", i);
}

} // namespace

BpeModel::BpeModel(const nlohmann::json &spec, bool byte_level) : byte_level_(byte_level) {
    const auto &vocab = member(spec, "vocab");
    const auto &merges = member(spec, "merges");
    if (!vocab.is_object()) fail(GPTQ_ERR_FORMAT, "tokenizer.json: BPE model without a \"vocab\" object");
    if (!merges.is_array()) fail(GPTQ_ERR_FORMAT, "tokenizer.json: BPE model without a \"merges\" list");
    const auto &dropout = member(spec, "dropout");
    if (!dropout.is_null() && !(dropout.is_number() && dropout.get<double>() == 0.0))
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: BPE dropout is not supported (it is random)");
    for (const char *affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const auto &v = spec.value(affix, nlohmann::json());
        if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty()))
            fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: BPE %s is not supported", affix);
    }
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        // Ids are dense in real vocabularies; a far larger one would make the id table huge.
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
            it.value().get<int64_t>() >= 2 * int64_t(vocab.size()) + 65536)
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: vocab entry '%s' has a bad id", it.key().c_str());
        const int32_t id = it.value().get<int32_t>();
        vocab_[it.key()] = id;
        if (size_t(id) >= tokens_.size()) tokens_.resize(size_t(id) + 1);
        tokens_[size_t(id)] = it.key();
    }
    for (size_t i = 0; i < merges.size(); ++i) {
        const auto ab = parse_merge(merges[i], i);
        const int32_t a = id_of(ab.first), b = id_of(ab.second), m = id_of(ab.first + ab.second);
        if (a < 0 || b < 0 || m < 0)
            fail(GPTQ_ERR_FORMAT, "tokenizer.json: merge %zu ('%s' '%s') uses a token not in the vocabulary",
                 i, ab.first.c_str(), ab.second.c_str());
        merges_[pair_key(a, b)] = {int32_t(i), m};  // a repeated pair: the later rank wins, as in HF
    }
    const auto &unk = member(spec, "unk_token");
    if (unk.is_string()) {
        unk_ = id_of(unk.get<std::string>());
        if (unk_ < 0) fail(GPTQ_ERR_FORMAT, "tokenizer.json: unk_token '%s' is not in the vocabulary",
                           unk.get<std::string>().c_str());
    }
    fuse_unk_ = spec.value("fuse_unk", false);
    byte_fallback_on_ = spec.value("byte_fallback", false);
    ignore_merges_ = spec.value("ignore_merges", false);
    for (int b = 0; b < 256; ++b) {
        byte_symbol_[b] = id_of(byte_level_char(uint8_t(b)));
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_fallback_[b] = byte_fallback_on_ ? id_of(name) : -1;
        if (b < 128) ascii_symbol_[b] = id_of(std::string(1, char(b)));
    }
}

int32_t BpeModel::id_of(const std::string &token) const {
    const auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
}

// One symbol per character of the word (per byte for byte-level words). A character outside
// the vocabulary becomes its <0xXX> byte tokens (byte_fallback, when all exist), else the unk
// token (consecutive unks fused with fuse_unk), else it is dropped, as Hugging Face does.
void BpeModel::initial_symbols(const std::string &word, std::vector<int32_t> &symbols) const {
    bool last_was_unk = false;
    auto unknown = [&](const char *p, size_t len) {
        if (byte_fallback_on_) {
            bool all = true;
            for (size_t k = 0; k < len; ++k) all = all && byte_fallback_[uint8_t(p[k])] >= 0;
            if (all) {
                for (size_t k = 0; k < len; ++k) symbols.push_back(byte_fallback_[uint8_t(p[k])]);
                last_was_unk = false;
                return;
            }
        }
        if (unk_ < 0) return;
        if (!(fuse_unk_ && last_was_unk)) symbols.push_back(unk_);
        last_was_unk = true;
    };
    if (byte_level_) {
        for (char c : word) {
            const int32_t id = byte_symbol_[uint8_t(c)];
            if (id >= 0) symbols.push_back(id), last_was_unk = false;
            else unknown(byte_level_char(uint8_t(c)).data(), byte_level_char(uint8_t(c)).size());
        }
        return;
    }
    std::string ch;
    for (size_t i = 0; i < word.size();) {
        const size_t len = utf8_char_len(word.data(), word.size(), i);
        int32_t id;
        if (uint8_t(word[i]) < 0x80) {
            id = ascii_symbol_[uint8_t(word[i])];  // most characters; no hashing
        } else {
            ch.assign(word, i, len);
            id = id_of(ch);
        }
        if (id >= 0) symbols.push_back(id), last_was_unk = false;
        else unknown(word.data() + i, len);
        i += len;
    }
}

void BpeModel::merge(const std::string &word, std::vector<int32_t> &out) const {
    if (ignore_merges_) {
        std::string shown;
        if (byte_level_)
            for (char c : word) shown += byte_level_char(uint8_t(c));
        const int32_t whole = id_of(byte_level_ ? shown : word);
        if (whole >= 0) {
            out.push_back(whole);
            return;
        }
    }
    // Scratch buffers reused across words: most words are a few symbols long, and
    // allocating four vectors per word would cost more than merging them.
    thread_local std::vector<int32_t> sym;
    thread_local std::vector<uint32_t> prev, next;
    thread_local std::vector<char> alive;
    thread_local std::vector<Candidate> heap;
    sym.clear();
    initial_symbols(word, sym);
    const uint32_t n = uint32_t(sym.size());
    constexpr uint32_t kNone = UINT32_MAX;
    prev.resize(n);
    next.resize(n);
    alive.assign(n, 1);
    for (uint32_t k = 0; k < n; ++k) {
        prev[k] = k == 0 ? kNone : k - 1;
        next[k] = k + 1 == n ? kNone : k + 1;
    }
    heap.clear();  // a binary heap whose top is the earliest candidate
    const LaterCandidate later;
    auto offer = [&](uint32_t left) {
        if (left == kNone || next[left] == kNone) return;
        const auto it = merges_.find(pair_key(sym[left], sym[next[left]]));
        if (it == merges_.end()) return;
        heap.push_back({it->second.rank, left, it->second.id});
        std::push_heap(heap.begin(), heap.end(), later);
    };
    // The initial pairs are heapified at once (linear) rather than pushed one by one.
    for (uint32_t k = 0; k + 1 < n; ++k) {
        const auto it = merges_.find(pair_key(sym[k], sym[k + 1]));
        if (it != merges_.end()) heap.push_back({it->second.rank, k, it->second.id});
    }
    std::make_heap(heap.begin(), heap.end(), later);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        const Candidate c = heap.back();
        heap.pop_back();
        if (!alive[c.left] || next[c.left] == kNone) continue;
        const uint32_t right = next[c.left];
        const auto it = merges_.find(pair_key(sym[c.left], sym[right]));
        if (it == merges_.end() || it->second.id != c.id) continue;
        sym[c.left] = c.id;
        alive[right] = 0;
        next[c.left] = next[right];
        if (next[right] != kNone) prev[next[right]] = c.left;
        offer(prev[c.left]);
        offer(c.left);
    }
    for (uint32_t k = 0; k < n; ++k)
        if (alive[k]) out.push_back(sym[k]);
}

void BpeModel::encode_word(const std::string &word, std::vector<int32_t> &out) const {
    if (word.empty()) return;
    const bool cacheable = word.size() <= kMaxCachedWord;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        const auto it = cache_.find(word);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t start = out.size();
    merge(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (cache_.size() >= kMaxCacheEntries) cache_.clear();
        cache_.emplace(word, std::vector<int32_t>(out.begin() + long(start), out.end()));
    }
}

} // namespace llama
