// open_tokenizer: a tokenizer that refuses, as soon as it encodes, an id the model has no
// embedding row for (a tokenizer of another model), naming both sizes, instead of the
// forward pass failing on the first such token deep inside evaluation or calibration.
#include "common.h"

#include "error.h"

namespace cli {

namespace {

class VocabGuard : public llama::Tokenizer {
public:
    VocabGuard(std::unique_ptr<llama::Tokenizer> inner, std::string path, int64_t model_vocab)
        : inner_(std::move(inner)), path_(std::move(path)), model_vocab_(model_vocab) {}

    std::vector<int32_t> encode(const std::string &text, bool add_special) const override {
        return checked(inner_->encode(text, add_special));
    }
    std::vector<int32_t> encode_prefix(const std::string &text, bool add_special,
                                       size_t min_tokens) const override {
        return checked(inner_->encode_prefix(text, add_special, min_tokens));
    }
    std::string decode(const std::vector<int32_t> &ids) const override { return inner_->decode(ids); }
    std::string decode(int32_t prev, int32_t token) const override { return inner_->decode(prev, token); }
    int32_t bos_id() const override { return inner_->bos_id(); }
    int32_t eos_id() const override { return inner_->eos_id(); }
    int64_t size() const override { return inner_->size(); }

private:
    std::vector<int32_t> checked(std::vector<int32_t> ids) const {
        for (int32_t id : ids)
            if (id < 0 || id >= model_vocab_)
                // Mismatched sizes (exit status 1): the files disagree, whoever chose them.
                llama::fail(GPTQ_ERR_SHAPE,
                            "tokenizer %s (%lld tokens) gives token id %d, but the model's "
                            "vocabulary has %lld tokens: the tokenizer does not belong to this "
                            "model (pass the model's own with --tokenizer)",
                            path_.c_str(), (long long)inner_->size(), id, (long long)model_vocab_);
        return ids;
    }

    std::unique_ptr<llama::Tokenizer> inner_;
    std::string path_;
    int64_t model_vocab_;
};

} // namespace

std::unique_ptr<llama::Tokenizer> open_tokenizer(const std::string &path, int64_t model_vocab) {
    return std::make_unique<VocabGuard>(llama::load_tokenizer(path, model_vocab), path, model_vocab);
}

} // namespace cli
