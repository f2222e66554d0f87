// Picks the tokenizer implementation from what is on disk.
#include "error.h"
#include "file_io.h"
#include "hf_tokenizer.h"
#include "llama2c_tokenizer.h"

namespace llama {

namespace {

bool ends_with(const std::string &s, const std::string &tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
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
        fail(GPTQ_ERR_IO, "%s: no tokenizer.json, tokenizer.bin or tok%lld.bin in this directory", path.c_str(),
             (long long)vocab_size);
    }
    if (!file_exists(path)) fail(GPTQ_ERR_IO, "%s: no such tokenizer file", path.c_str());
    if (ends_with(path, ".json")) return std::make_unique<HfTokenizer>(path);
    return std::make_unique<Llama2cTokenizer>(path, vocab_size);
}

} // namespace llama
