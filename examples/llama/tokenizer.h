// The tokenizer interface the tool uses, whatever the file format: llama2.c `tok*.bin`
// (llama2c_tokenizer.h) or a Hugging Face `tokenizer.json` (hf_tokenizer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llama {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Ids of `text` (UTF-8). add_special: wrap them in the tokenizer's BOS/EOS template (what
    // Hugging Face calls add_special_tokens); special-token strings inside the text are
    // recognised either way, as Hugging Face does.
    virtual std::vector<int32_t> encode(const std::string &text, bool add_special) const = 0;

    // Encodes from the front of `text` and may stop once at least `min_tokens` ids exist (0:
    // the whole text), so a caller that needs N tokens of a large file pays for about N. The
    // result is always a prefix of encode(text, add_special) (the trailing template tokens,
    // EOS, only when the whole text was consumed). Where it stops: the llama2.c tokenizer after
    // a line (when no piece spans a newline), the Hugging Face one after a pre-tokenized word
    // (its normalizer and pre-tokenizer still see the whole text, which costs little); a
    // tokenizer that cannot cut exactly encodes the whole text.
    virtual std::vector<int32_t> encode_prefix(const std::string &text, bool add_special,
                                               size_t min_tokens) const {
        (void)min_tokens;
        return encode(text, add_special);
    }

    // The bytes of `ids` as text, special tokens (BOS, EOS, ...) left out. Bytes are returned
    // as they are, so a token ending inside a UTF-8 character gives a partial character
    // (Hugging Face would print U+FFFD there; concatenating pieces gives the right text).
    virtual std::string decode(const std::vector<int32_t> &ids) const = 0;

    // The text `token` adds after `prev` (-1: at the start), for printing while generating.
    // After a special token (BOS) the piece is decoded as at the start of a text.
    virtual std::string decode(int32_t prev, int32_t token) const = 0;

    virtual int32_t bos_id() const = 0;  // -1: the tokenizer has none
    virtual int32_t eos_id() const = 0;  // -1: the tokenizer has none
    virtual int64_t size() const = 0;    // number of ids (vocabulary + added tokens)
};

// Opens a tokenizer: a `tokenizer.json` file, a llama2.c `.bin` file, or a directory holding
// tokenizer.json (preferred), tokenizer.bin or tok<vocab_size>.bin (any one tok<N>.bin when
// vocab_size is 0). vocab_size: the model's; a llama2.c file must hold exactly that many
// tokens (0: all in the file). A tokenizer.json is not checked against it: models often pad
// their vocabulary, and ids past the model's vocabulary are the caller's to refuse.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string &path, int64_t vocab_size = 0);

} // namespace llama
