// Shared pieces of the gptq subcommands: backend context, tokenizer lookup, documents.
#pragma once

#include "args.h"
#include "eval.h"
#include "model.h"
#include "llama2c_tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace cli {

struct CtxDeleter {
    void operator()(gptq_ctx *c) const { gptq_ctx_destroy(c); }
};
using CtxPtr = std::unique_ptr<gptq_ctx, CtxDeleter>;

// The --backend / --threads / --device options every command takes.
std::vector<OptionSpec> backend_options();
CtxPtr make_context(const Args &a);

// --tokenizer, else tokenizer.bin in the model's directory (or next to a llama2.c file),
// else tok<vocab>.bin there (llama2.c's naming).
std::string find_tokenizer(const Args &a, const std::string &model_path, int64_t vocab);

// Token sequences of the chosen documents of a text file (BOS + text, cut at seq_len), and
// at most max_tokens tokens in all when max_tokens > 0.
std::vector<std::vector<int32_t>> load_sequences(const llama::Tokenizer &tok,
                                                 const std::string &text_path,
                                                 const std::string &doc_range, int64_t seq_len,
                                                 int64_t max_tokens);

std::string human_bytes(int64_t bytes);

} // namespace cli
