#include "naive_llama2c.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace naive {

bool read_llama2c_vocab(const std::string &path, Llama2cVocab &v) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string b = ss.str();
    size_t pos = 4;
    while (pos + 8 <= b.size()) {
        float score;
        int32_t len;
        std::memcpy(&score, b.data() + pos, 4);
        std::memcpy(&len, b.data() + pos + 4, 4);
        if (len < 0 || size_t(len) > b.size() - pos - 8) return false;
        v.pieces.push_back(b.substr(pos + 8, size_t(len)));
        v.scores.push_back(score);
        pos += 8 + size_t(len);
    }
    for (size_t i = 0; i < v.pieces.size(); ++i) v.index.emplace(v.pieces[i], int32_t(i));
    return pos == b.size() && v.pieces.size() >= 259;
}

std::vector<int32_t> llama2c_encode(const Llama2cVocab &v, const std::string &text) {
    auto lookup = [&](const std::string &s) {
        const auto it = v.index.find(s);
        return it == v.index.end() ? -1 : it->second;
    };
    std::vector<int32_t> t;
    if (!text.empty()) t.push_back(lookup(" "));
    for (size_t i = 0; i < text.size();) {
        size_t j = i + 1;
        while (j < text.size() && j - i < 4 && (uint8_t(text[j]) & 0xc0) == 0x80) ++j;
        const int32_t id = lookup(text.substr(i, j - i));
        if (id >= 0) t.push_back(id);
        else
            for (size_t k = i; k < j; ++k) t.push_back(3 + int32_t(uint8_t(text[k])));
        i = j;
    }
    for (;;) {
        float best = -1e10f;
        int32_t best_id = -1;
        size_t at = 0;
        for (size_t k = 0; k + 1 < t.size(); ++k) {
            const int32_t id = lookup(v.pieces[size_t(t[k])] + v.pieces[size_t(t[k + 1])]);
            if (id >= 0 && v.scores[size_t(id)] > best) best = v.scores[size_t(id)], best_id = id, at = k;
        }
        if (best_id < 0) break;
        t[at] = best_id;
        t.erase(t.begin() + long(at) + 1);
    }
    return t;
}

} // namespace naive
