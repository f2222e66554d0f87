#include "model_kind.h"

#include "error.h"
#include "file_io.h"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace cli {

using llama::fail;

namespace {

// The first n bytes of a file (fewer if it is shorter).
std::string head_bytes(const std::string &path, size_t n) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(GPTQ_ERR_IO, "%s: cannot be read: %s", path.c_str(), std::strerror(errno));
    std::string s(n, '\0');
    f.read(&s[0], std::streamsize(n));
    s.resize(size_t(f.gcount()));
    return s;
}

uint64_t le_u64(const std::string &s) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | uint8_t(s[size_t(i)]);
    return v;
}

// The seven header integers of a llama2.c checkpoint, each within bounds far above any real
// model: text or other binary data almost never passes.
bool plausible_llama2c_header(const std::string &h) {
    if (h.size() < 28) return false;
    int32_t v[7];
    std::memcpy(v, h.data(), sizeof v);
    const int32_t dim = v[0], hidden = v[1], layers = v[2], heads = v[3], kv = v[4], seq = v[6];
    const int64_t vocab = v[5] < 0 ? -int64_t(v[5]) : v[5];
    const int32_t kMax = 1 << 20;
    return dim > 0 && dim <= kMax && hidden > 0 && hidden <= kMax && layers > 0 &&
           layers <= 4096 && heads > 0 && heads <= dim && dim % heads == 0 && kv > 0 &&
           kv <= heads && heads % kv == 0 && vocab > 0 && vocab <= (1 << 22) && seq > 0 &&
           seq <= (1 << 24);
}

bool looks_like_text(const std::string &h) {
    if (h.empty()) return false;
    for (unsigned char c : h)
        if (c < 0x09 || (c > 0x0d && c < 0x20 && c != 0x1b)) return false;  // UTF-8 is fine
    return true;
}

ModelKind file_kind(const std::string &path) {
    const std::string h = head_bytes(path, 64);
    const char *p = path.c_str();
    if (h.empty()) fail(GPTQ_ERR_FORMAT, "%s: not a model file (the file is empty)", p);
    if (h.size() >= 9 && h[8] == '{' && le_u64(h) >= 2 && le_u64(h) < (uint64_t(1) << 40))
        fail(GPTQ_ERR_FORMAT,
             "%s: a safetensors file on its own; give the directory that holds it with its "
             "config.json", p);
    if (h.compare(0, 4, "GGUF") == 0)
        fail(GPTQ_ERR_UNSUPPORTED, "%s: a GGUF file; only llama2.c checkpoints and Hugging "
                                   "Face / GPTQ directories are read", p);
    if (plausible_llama2c_header(h)) return ModelKind::Llama2c;
    if (h.size() >= 4 && std::memcmp(h.data(), "42ka", 4) == 0)
        return ModelKind::Llama2c;  // llama2.c's newer export format: the loader explains
    fail(GPTQ_ERR_FORMAT,
         "%s: not a model file (%s; expected a llama2.c .bin checkpoint, or a Hugging Face / "
         "GPTQ directory)", p, looks_like_text(h) ? "it looks like text" : "unknown header");
}

// Parses a small JSON file, turning the parser's exception into a sentence.
nlohmann::json read_json(const std::string &path) {
    nlohmann::json j = nlohmann::json::parse(llama::read_text_file(path), nullptr, false);
    if (j.is_discarded()) fail(GPTQ_ERR_FORMAT, "%s: not valid JSON", path.c_str());
    if (!j.is_object()) fail(GPTQ_ERR_FORMAT, "%s: expected a JSON object", path.c_str());
    return j;
}

ModelKind directory_kind(const std::string &dir) {
    const std::string cfg_path = llama::join_path(dir, "config.json");
    if (!llama::file_exists(cfg_path))
        fail(GPTQ_ERR_FORMAT, "%s: not a model directory (no config.json)", dir.c_str());
    const nlohmann::json cfg = read_json(cfg_path);
    if (!llama::file_exists(llama::join_path(dir, "model.safetensors")) &&
        !llama::file_exists(llama::join_path(dir, "model.safetensors.index.json")))
        fail(GPTQ_ERR_FORMAT,
             "%s: has config.json but no model.safetensors or model.safetensors.index.json",
             dir.c_str());
    if (cfg.contains("quantization_config")) {
        if (!cfg["quantization_config"].is_object())
            fail(GPTQ_ERR_FORMAT, "%s: \"quantization_config\" is not a JSON object",
                 cfg_path.c_str());
        return ModelKind::GptqDirectory;
    }
    const std::string qc = llama::join_path(dir, "quantize_config.json");
    if (llama::file_exists(qc)) {
        read_json(qc);
        return ModelKind::GptqDirectory;
    }
    return ModelKind::HfDirectory;
}

} // namespace

const char *model_kind_name(ModelKind k) {
    switch (k) {
    case ModelKind::Llama2c: return "llama2.c checkpoint";
    case ModelKind::HfDirectory: return "Hugging Face directory";
    case ModelKind::GptqDirectory: return "GPTQ checkpoint directory";
    }
    return "?";
}

ModelKind detect_model_kind(const std::string &path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
        fail(GPTQ_ERR_IO, "%s: %s", path.c_str(), errno == ENOENT ? "no such file or directory" : std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return directory_kind(path);
    if (!S_ISREG(st.st_mode)) fail(GPTQ_ERR_FORMAT, "%s: not a regular file or directory", path.c_str());
    return file_kind(path);
}

} // namespace cli
