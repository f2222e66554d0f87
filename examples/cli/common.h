// Shared pieces of the gptq subcommands: backend context, tokenizer lookup, documents.
#pragma once

#include "args.h"
#include "model_kind.h"
#include "eval.h"
#include "model.h"
#include "tokenizer.h"

#include <exception>
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
// Checks their values (known backend name, non-negative counts) without creating anything.
void check_backend_options(const Args &a);
CtxPtr make_context(const Args &a);

// detect_model_kind + a "model: PATH (kind)" line on stderr unless quiet.
ModelKind identify_model(const std::string &path, bool quiet);
// llama::load_model with the JSON library's exceptions turned into a sentence naming PATH.
llama::Model load_model_checked(const std::string &path, gptq_ctx *ctx, bool lazy = false);
// For eval and generate: the model loaded lazily (HF tensors stay in their stored dtype),
// its dense layers made at once (llama::make_resident), and unless quiet one stderr line of
// what it holds by kind (llama::resident_sizes).
llama::Model load_for_inference(const std::string &path, gptq_ctx *ctx, bool quiet);
// "resident: quantized N layers X (packed), dense ..., fp32 vectors ...; total X; mapped ..."
std::string resident_line(const llama::Model &m, gptq_ctx *ctx);
// "peak RSS X" on stderr: the measured peak resident set of the run.
void print_peak_rss();
// The JSON library's message without its "[json.exception.type_error.302] " tag.
std::string json_error_text(const std::exception &e);


// --tokenizer, else tokenizer.bin in the model's directory (or next to a llama2.c file),
// else tok<vocab>.bin there (llama2.c's naming).
std::string find_tokenizer(const Args &a, const std::string &model_path, int64_t vocab);

// llama::load_tokenizer(path, model_vocab), whose encode refuses an id >= model_vocab with a
// message naming both vocabulary sizes (vocab_guard.cpp).
std::unique_ptr<llama::Tokenizer> open_tokenizer(const std::string &path, int64_t model_vocab);

// Token sequences of the chosen documents of a text file (BOS + text, cut at seq_len), and
// at most max_tokens tokens in all when max_tokens > 0.
std::vector<std::vector<int32_t>> load_sequences(const llama::Tokenizer &tok,
                                                 const std::string &text_path,
                                                 const std::string &doc_range, int64_t seq_len,
                                                 int64_t max_tokens);

// --- The paper's window protocol (GPTQ / AutoGPTQ) ---------------------------------------

// True when the text is one document (no <|endoftext|> separator lines): such a text (e.g.
// WikiText-2's raw files) gets the window protocol by default.
bool is_single_document(const std::string &text_path);

// The tokens of the whole text (BOS first), or of the chosen documents joined by newlines
// when doc_range is not "0:".
std::vector<int32_t> tokenize_text(const llama::Tokenizer &tok, const std::string &text_path,
                                   const std::string &doc_range);

// The requested sequence / window length, capped at the model's context unless
// --force-seq-len is given; a cap is reported on stderr.
int64_t capped_seq_len(const Args &a, const llama::Config &c, int64_t requested);

// Refuses a document range that is malformed or outside the documents of text_path: checked
// before a model is loaded (the text is small; the model may not be).
void check_doc_range(const std::string &text_path, const std::string &doc_range);

std::string human_bytes(int64_t bytes);

} // namespace cli
