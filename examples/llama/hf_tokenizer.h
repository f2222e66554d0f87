// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) with a BPE model: the
// byte-level family (GPT-2, Llama 3, Qwen2/2.5/3, SmolLM) and the SentencePiece-style family
// (Llama 2, Mistral, TinyLlama). Components outside what is implemented (WordPiece, Unigram,
// an unknown normalizer, pre-tokenizer, post-processor or decoder) are refused by name.
//
// Encoding follows Hugging Face: added tokens are cut out first, each piece between them is
// normalized, pre-tokenized into words, and each word BPE-encoded; the post-processor's
// template (or tokenizer_config's add_bos_token / add_eos_token) adds BOS / EOS.
#pragma once

#include "bpe.h"
#include "hf_added_tokens.h"
#include "hf_decoder.h"
#include "hf_normalizer.h"
#include "hf_pretokenizer.h"
#include "tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace llama {

class HfTokenizer final : public Tokenizer {
public:
    // path: a tokenizer.json file or a directory holding one; tokenizer_config.json is read
    // from the same directory when present.
    explicit HfTokenizer(const std::string &path);
    ~HfTokenizer() override;

    std::vector<int32_t> encode(const std::string &text, bool add_special) const override;
    std::vector<int32_t> encode_prefix(const std::string &text, bool add_special,
                                       size_t min_tokens) const override;
    std::string decode(const std::vector<int32_t> &ids) const override;
    std::string decode(int32_t prev, int32_t token) const override;
    int32_t bos_id() const override { return bos_; }
    int32_t eos_id() const override { return eos_; }
    int64_t size() const override { return size_; }

    // The text of one id as the vocabulary holds it ("" when unknown).
    std::string token_text(int32_t id) const;

private:
    // BOS / EOS ids and the template, from the post-processor and tokenizer_config.json.
    void finish_specials(const nlohmann::json &tokenizer_json, const nlohmann::json &config);

    struct Parts;
    std::unique_ptr<Parts> p_;
    std::vector<int32_t> prefix_, suffix_;  // the template around the text's ids
    int32_t bos_ = -1, eos_ = -1;
    int64_t size_ = 0;
};

} // namespace llama
