#include "hf_tokenizer.h"

#include "error.h"
#include "hf_normalizer.h"
#include "file_io.h"
#include "hf_post_processor.h"
#include "utf8.h"

#include <algorithm>

namespace llama {

struct HfTokenizer::Parts {
    AddedTokens added;
    HfNormalizer normalizer;
    HfPreTokenizer pre_tokenizer;
    BpeModel model;
    HfDecoder decoder;
};

namespace {

nlohmann::json parse_json_file(const std::string &path) {
    nlohmann::json j = nlohmann::json::parse(read_text_file(path), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(GPTQ_ERR_FORMAT, "%s: not a JSON object", path.c_str());
    return j;
}

const nlohmann::json &model_spec(const nlohmann::json &tj) {
    if (!tj.contains("model") || !tj["model"].is_object())
        fail(GPTQ_ERR_FORMAT, "tokenizer.json: no \"model\"");
    const nlohmann::json &m = tj["model"];
    // Files written before "type" existed are BPE when they have merges.
    const std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>()
                             : m.contains("merges")                      ? "BPE"
                                                                         : "(none)";
    if (type != "BPE")
        fail(GPTQ_ERR_UNSUPPORTED, "tokenizer.json: model '%s' is not supported (only BPE)", type.c_str());
    return m;
}

// A tokenizer_config.json token entry: "<s>" or {"content": "<s>", ...}; "" when absent.
std::string config_token(const nlohmann::json &cfg, const char *key) {
    if (!cfg.contains(key)) return "";
    const auto &v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return "";
}

std::string directory_of(const std::string &file) {
    const size_t slash = file.find_last_of('/');
    return slash == std::string::npos ? "." : file.substr(0, slash);
}

} // namespace

HfTokenizer::~HfTokenizer() = default;

HfTokenizer::HfTokenizer(const std::string &path) {
    const bool dir = is_directory(path);
    const std::string json_path = dir ? join_path(path, "tokenizer.json") : path;
    const std::string cfg_path = join_path(dir ? path : directory_of(path), "tokenizer_config.json");
    const nlohmann::json tj = parse_json_file(json_path);
    const nlohmann::json cfg = file_exists(cfg_path) ? parse_json_file(cfg_path) : nlohmann::json::object();
    try {
        HfPreTokenizer pre(member(tj, "pre_tokenizer"));
        const bool byte_level = pre.byte_level();
        p_.reset(new Parts{AddedTokens(member(tj, "added_tokens")),
                           HfNormalizer(member(tj, "normalizer")), std::move(pre),
                           BpeModel(model_spec(tj), byte_level),
                           HfDecoder(member(tj, "decoder"))});
        size_ = std::max<int64_t>(int64_t(p_->model.tokens().size()), int64_t(p_->added.max_id()) + 1);
        finish_specials(tj, cfg);
    } catch (const Error &e) {
        fail(e.status(), "%s: %s", json_path.c_str(), e.what());
    } catch (const nlohmann::json::exception &e) {
        fail(GPTQ_ERR_FORMAT, "%s (or its tokenizer_config.json): unexpected JSON value: %s", json_path.c_str(),
             e.what());
    }
}

void HfTokenizer::finish_specials(const nlohmann::json &tj, const nlohmann::json &cfg) {
    auto id_of = [&](const std::string &t) -> int32_t {
        if (t.empty()) return -1;
        if (const AddedToken *a = p_->added.find(t)) return a->id;
        return p_->model.id_of(t);
    };
    bos_ = id_of(config_token(cfg, "bos_token"));
    eos_ = id_of(config_token(cfg, "eos_token"));
    auto flag = [&](const char *key) { return cfg.contains(key) && cfg[key].is_boolean() && cfg[key].get<bool>(); };

    SpecialTemplate tmpl = parse_post_processor(member(tj, "post_processor"));
    // transformers' Llama tokenizers rebuild the template from add_bos_token / add_eos_token;
    // tokenizers without a template take them from the config too.
    const auto &cls = member(cfg, "tokenizer_class");
    const bool llama_class = cls.is_string() && cls.get<std::string>().find("Llama") != std::string::npos;
    const bool has_flags = cfg.contains("add_bos_token") || cfg.contains("add_eos_token");
    if ((llama_class && has_flags) || !tmpl.present) {
        tmpl = SpecialTemplate();
        if (flag("add_bos_token") && bos_ >= 0) tmpl.prefix.push_back(bos_);
        if (flag("add_eos_token") && eos_ >= 0) tmpl.suffix.push_back(eos_);
    }
    // Without a tokenizer_config.json the template tells BOS and EOS.
    if (bos_ < 0 && !tmpl.prefix.empty()) bos_ = tmpl.prefix.front();
    if (eos_ < 0 && !tmpl.suffix.empty()) eos_ = tmpl.suffix.back();
    prefix_ = tmpl.prefix;
    suffix_ = tmpl.suffix;
}

std::vector<int32_t> HfTokenizer::encode(const std::string &text, bool add_special) const {
    return encode_prefix(text, add_special, 0);
}

std::vector<int32_t> HfTokenizer::encode_prefix(const std::string &text, bool add_special,
                                                size_t min_tokens) const {
    const size_t bad = invalid_utf8_at(text.data(), text.size());
    if (bad != std::string::npos)
        fail(GPTQ_ERR_FORMAT, "text is not valid UTF-8 (byte %zu)", bad);
    std::vector<int32_t> ids;
    if (add_special) ids = prefix_;
    auto enough = [&] { return min_tokens > 0 && ids.size() >= min_tokens; };

    std::vector<TextPiece> raw, normalized;
    p_->added.split(text, false, raw);
    bool at_start = true;  // nothing (not even an added token) precedes the piece
    for (const TextPiece &piece : raw) {
        if (enough()) return ids;
        if (piece.id >= 0) {
            ids.push_back(piece.id);
            at_start = false;
            continue;
        }
        normalized.clear();
        p_->added.split(p_->normalizer.apply(piece.text), true, normalized);
        for (const TextPiece &np : normalized) {
            if (np.id >= 0) {
                ids.push_back(np.id);
            } else {
                for (const std::string &word : p_->pre_tokenizer.split(np.text, at_start)) {
                    if (enough()) return ids;
                    p_->model.encode_word(word, ids);
                }
            }
            at_start = false;
        }
    }
    if (add_special) ids.insert(ids.end(), suffix_.begin(), suffix_.end());
    return ids;
}

std::string HfTokenizer::token_text(int32_t id) const {
    if (const AddedToken *a = p_->added.find(id)) return a->content;
    const auto &tokens = p_->model.tokens();
    return id >= 0 && size_t(id) < tokens.size() ? tokens[size_t(id)] : std::string();
}

std::string HfTokenizer::decode(const std::vector<int32_t> &ids) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        const AddedToken *a = p_->added.find(id);
        if (a && a->special) continue;
        std::string t = token_text(id);
        if (!t.empty()) tokens.push_back(std::move(t));
    }
    return p_->decoder.decode(std::move(tokens));
}

std::string HfTokenizer::decode(int32_t prev, int32_t token) const {
    // What the token adds to the text decoded so far: decoders such as Strip act on the
    // start of the text only, so the difference with and without it is the piece.
    if (prev < 0) return decode(std::vector<int32_t>{token});
    const std::string before = decode(std::vector<int32_t>{prev});
    const std::string both = decode(std::vector<int32_t>{prev, token});
    if (both.compare(0, before.size(), before) == 0) return both.substr(before.size());
    return decode(std::vector<int32_t>{token});
}

} // namespace llama
