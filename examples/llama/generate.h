// Text generation: prefill the prompt in one pass, then decode token by token with the KV
// cache (M = 1 matmuls).
#pragma once

#include "forward.h"
#include "tokenizer.h"

#include <functional>
#include <string>

namespace llama {

struct GenerateOptions {
    int64_t steps = 128;       // new tokens at most (also bounded by seq_len)
    float temperature = 0.0f;  // 0: greedy
    float top_p = 0.9f;        // nucleus sampling when temperature > 0 (1: off)
    uint64_t seed = 42;
    bool stop_at_eos = true;
};

// Returns the generated text (prompt excluded); on_piece receives each piece as it comes.
std::string generate(const Forward &fwd, const Tokenizer &tok, const std::string &prompt,
                     const GenerateOptions &opt,
                     const std::function<void(const std::string &)> &on_piece = nullptr);

// Picks the next token from logits [vocab] (modified in place).
int32_t sample_token(std::vector<float> &logits, const GenerateOptions &opt, uint64_t &rng_state);

} // namespace llama
