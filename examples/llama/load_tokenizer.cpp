// Picks the tokenizer implementation from what is on disk.
#include "error.h"
#include "file_io.h"
#include "hf_tokenizer.h"
#include "llama2c_tokenizer.h"

#include <dirent.h>

namespace llama {

namespace {

bool ends_with(const std::string &s, const std::string &tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The one llama2.c tok<N>.bin of a directory ("" if none; an error if several).
std::string only_tok_bin(const std::string &dir) {
    std::string found;
    DIR *d = ::opendir(dir.c_str());
    if (!d) return found;
    while (const dirent *e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() <= 7 || name.compare(0, 3, "tok") != 0 || !ends_with(name, ".bin") ||
            name.find_first_not_of("0123456789", 3) != name.size() - 4)
            continue;
        if (!found.empty()) {
            ::closedir(d);
            fail(GPTQ_ERR_INVALID_ARGUMENT, "%s holds several tok<N>.bin tokenizers; name one", dir.c_str());
        }
        found = join_path(dir, name);
    }
    ::closedir(d);
    return found;
}

} // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string &path, int64_t vocab_size) {
    if (is_directory(path)) {
        if (file_exists(join_path(path, "tokenizer.json"))) return std::make_unique<HfTokenizer>(path);
        for (const std::string &name :
             {std::string("tokenizer.bin"), "tok" + std::to_string(vocab_size) + ".bin"}) {
            const std::string p = join_path(path, name);
            if (file_exists(p)) return std::make_unique<Llama2cTokenizer>(p, vocab_size);
        }
        if (vocab_size <= 0) {
            const std::string p = only_tok_bin(path);
            if (!p.empty()) return std::make_unique<Llama2cTokenizer>(p, 0);
        }
        fail(GPTQ_ERR_IO, "%s: no tokenizer.json, tokenizer.bin or tok<N>.bin in this directory", path.c_str());
    }
    if (!file_exists(path)) fail(GPTQ_ERR_IO, "%s: no such tokenizer file", path.c_str());
    if (ends_with(path, ".json")) return std::make_unique<HfTokenizer>(path);
    return std::make_unique<Llama2cTokenizer>(path, vocab_size);
}

} // namespace llama
