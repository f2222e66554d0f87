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

// "A:B" (inclusive, as the README states "documents 23-45" = 23:45), "A:" or "A".
struct DocRange {
    int64_t first = 0, last = -1;  // last -1: to the end
};
DocRange parse_doc_range(const std::string &s);
std::vector<std::string> select_documents(const std::vector<std::string> &docs, DocRange r);

// BOS + encode(doc), cut at seq_len tokens.
std::vector<std::vector<int32_t>> tokenize_documents(const Tokenizer &tok,
                                                     const std::vector<std::string> &docs,
                                                     int64_t seq_len);

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
