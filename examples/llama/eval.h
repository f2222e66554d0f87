// The evaluation protocol: documents split at "<|endoftext|>" lines, each one sequence that
// starts with BOS and is cut at the model's seq_len; perplexity = exp(mean NLL over every
// predicted token of the chosen documents).
#pragma once

#include "forward.h"
#include "tokenizer.h"

#include <string>
#include <vector>

namespace llama {

// Text between separator lines, without the newline that ends the last line; empty
// documents are dropped.
std::vector<std::string> split_documents(const std::string &text);

// "A:B" is half-open as in Python: documents A .. B-1 ("0:23" = the first 23). "A:" runs to
// the end, ":B" starts at 0, "A" alone is document A.
struct DocRange {
    int64_t first = 0, end = -1;  // end -1: to the end
};
DocRange parse_doc_range(const std::string &s);
std::vector<std::string> select_documents(const std::vector<std::string> &docs, DocRange r);

// BOS + encode(doc), cut at seq_len tokens.
std::vector<std::vector<int32_t>> tokenize_documents(const Tokenizer &tok,
                                                     const std::vector<std::string> &docs,
                                                     int64_t seq_len);

// The paper's calibration protocol (GPTQ / AutoGPTQ): n windows of len consecutive tokens,
// each starting at a uniformly drawn offset of the tokenized text. Deterministic for a seed.
std::vector<std::vector<int32_t>> sample_windows(const std::vector<int32_t> &tokens, int64_t n,
                                                 int64_t len, uint64_t seed);

// The paper's evaluation protocol: the text's tokens cut into consecutive non-overlapping
// windows of len tokens; the incomplete tail is dropped (as the GPTQ reference does).
std::vector<std::vector<int32_t>> split_windows(const std::vector<int32_t> &tokens, int64_t len);

struct EvalResult {
    double nll_sum = 0.0;
    int64_t tokens = 0;  // predicted tokens
    double mean_nll() const { return tokens ? nll_sum / double(tokens) : 0.0; }
    double perplexity() const;
};

// Each sequence is prefilled in one pass (M = its length through every matmul).
// progress(i, n) is called after each sequence when given.
EvalResult evaluate(const Forward &fwd, const std::vector<std::vector<int32_t>> &seqs,
                    const std::function<void(size_t, size_t)> &progress = nullptr);

} // namespace llama
