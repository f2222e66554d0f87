#include "common.h"

#include "error.h"
#include "file_io.h"
#include "loaders.h"
#include "memory_report.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <cstdio>

namespace cli {

using llama::fail;

std::vector<OptionSpec> backend_options() {
    return {{"backend", "NAME", "compute backend: auto, cpu, vulkan or cuda", "auto"},
            {"threads", "N", "CPU threads (0: all cores)", "0"},
            {"device", "N", "device index within the backend", "0"}};
}

namespace {

gptq_backend backend_of(const Args &a) {
    const std::string b = a.get("backend");
    if (b == "auto") return GPTQ_BACKEND_AUTO;
    if (b == "cpu") return GPTQ_BACKEND_CPU;
    if (b == "vulkan") return GPTQ_BACKEND_VULKAN;
    if (b == "cuda") return GPTQ_BACKEND_CUDA;
    fail(GPTQ_ERR_INVALID_ARGUMENT, "--backend: '%s' is not auto, cpu, vulkan or cuda", b.c_str());
}

const int kMaxThreads = 4096;

} // namespace

void check_backend_options(const Args &a) {
    backend_of(a);
    a.get_int("threads", 0, kMaxThreads);
    a.get_int("device", 0, INT32_MAX);
}

CtxPtr make_context(const Args &a) {
    gptq_ctx_params p;
    gptq_ctx_params_init(&p);
    const std::string b = a.get("backend");
    p.backend = backend_of(a);
    p.n_threads = int32_t(a.get_int("threads", 0, kMaxThreads));
    p.device_index = int32_t(a.get_int("device", 0, INT32_MAX));
    gptq_ctx *ctx = nullptr;
    const gptq_status st = gptq_ctx_create(&p, &ctx);
    if (st != GPTQ_OK)
        fail(st, "cannot create a %s context: %s", b.c_str(), gptq_last_error(nullptr));
    return CtxPtr(ctx);
}

ModelKind identify_model(const std::string &path, bool quiet) {
    const ModelKind k = detect_model_kind(path);
    if (!quiet) std::fprintf(stderr, "model: %s (%s)\n", path.c_str(), model_kind_name(k));
    return k;
}

std::string json_error_text(const std::exception &e) {
    std::string m = e.what();
    if (m.compare(0, 15, "[json.exception") == 0) {
        const size_t close = m.find("] ");
        if (close != std::string::npos) m = m.substr(close + 2);
    }
    return m;
}

llama::Model load_model_checked(const std::string &path, gptq_ctx *ctx, bool lazy) {
    try {
        return llama::load_model(path, ctx, lazy);
    } catch (const nlohmann::json::exception &e) {
        fail(GPTQ_ERR_FORMAT,
             "%s: unexpected content in its JSON (config.json, quantize_config.json or a "
             "safetensors header): %s", path.c_str(), json_error_text(e).c_str());
    }
}

llama::Model load_for_inference(const std::string &path, gptq_ctx *ctx, bool quiet) {
    llama::Model m = load_model_checked(path, ctx, /*lazy=*/true);
    llama::make_resident(m, ctx);
    if (!quiet) std::fprintf(stderr, "%s\n", resident_line(m, ctx).c_str());
    return m;
}

std::string resident_line(const llama::Model &m, gptq_ctx *ctx) {
    const llama::ResidentSizes r = llama::resident_sizes(m, ctx);
    auto b = [](uint64_t n) { return human_bytes(int64_t(n)); };
    auto layers = [](int64_t n) { return std::to_string(n) + (n == 1 ? " layer" : " layers"); };
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "resident: quantized %s %s (packed), dense %s %s (%s), fp32 vectors %s; "
                  "total %s; mapped %s (%s, read on demand)",
                  layers(r.quantized_layers).c_str(), b(r.quantized_bytes).c_str(),
                  layers(r.dense_layers).c_str(), b(r.dense_bytes).c_str(),
                  llama::dtype_names(r.dense_dtypes).c_str(), b(r.f32_bytes).c_str(),
                  b(r.total_held()).c_str(), b(r.mapped_bytes).c_str(),
                  llama::dtype_names(r.mapped_dtypes).c_str());
    return buf;
}

void print_peak_rss() {
    std::fprintf(stderr, "peak RSS %s\n", human_bytes(int64_t(llama::peak_rss_bytes())).c_str());
}

std::string find_tokenizer(const Args &a, const std::string &model_path, int64_t vocab) {
    if (a.has("tokenizer")) return a.get("tokenizer");
    std::string dir = model_path;
    if (!llama::is_directory(model_path)) {
        const size_t slash = model_path.find_last_of('/');
        dir = slash == std::string::npos ? "." : model_path.substr(0, slash);
    }
    // A Hugging Face tokenizer.json wins (load_tokenizer takes the directory and reads its
    // tokenizer_config.json too); then a llama2.c tokenizer file.
    if (llama::file_exists(llama::join_path(dir, "tokenizer.json"))) return dir;
    for (const std::string &name : {std::string("tokenizer.bin"), "tok" + std::to_string(vocab) + ".bin"}) {
        const std::string p = llama::join_path(dir, name);
        if (llama::file_exists(p)) return p;
    }
    fail(GPTQ_ERR_IO,
         "no tokenizer found next to %s; pass --tokenizer DIR|FILE (a Hugging Face "
         "tokenizer.json or its directory, or a llama2.c tok*.bin)",
         model_path.c_str());
}

std::vector<std::vector<int32_t>> load_sequences(const llama::Tokenizer &tok,
                                                 const std::string &text_path,
                                                 const std::string &doc_range, int64_t seq_len,
                                                 int64_t max_tokens) {
    const std::vector<std::string> docs = llama::split_documents(llama::read_text_file(text_path));
    if (docs.empty()) fail(GPTQ_ERR_FORMAT, "%s: no documents", text_path.c_str());
    const auto chosen = llama::select_documents(docs, llama::parse_doc_range(doc_range));
    auto seqs = llama::tokenize_documents(tok, chosen, seq_len);
    if (max_tokens > 0) {
        int64_t total = 0;
        for (size_t i = 0; i < seqs.size(); ++i) {
            const int64_t room = max_tokens - total;
            if (room < 2) {
                seqs.resize(i);
                break;
            }
            if (int64_t(seqs[i].size()) > room) seqs[i].resize(size_t(room));
            total += int64_t(seqs[i].size());
        }
    }
    return seqs;
}

bool is_single_document(const std::string &text_path) {
    return llama::split_documents(llama::read_text_file(text_path)).size() == 1;
}

std::vector<int32_t> tokenize_text(const llama::Tokenizer &tok, const std::string &text_path,
                                   const std::string &doc_range) {
    const std::string text = llama::read_text_file(text_path);
    if (doc_range == "0:") return tok.encode(text, true);  // the file as-is
    const auto chosen = llama::select_documents(llama::split_documents(text),
                                                llama::parse_doc_range(doc_range));
    std::string joined;
    for (const std::string &d : chosen) joined += (joined.empty() ? "" : "\n") + d;
    return tok.encode(joined, true);
}

int64_t capped_seq_len(const Args &a, const llama::Config &c, int64_t requested) {
    const int64_t context = c.context_length();
    if (requested <= context || a.has("force-seq-len")) return requested;
    std::fprintf(stderr,
                 "note: sequence length %lld exceeds the model's context of %lld tokens; using "
                 "%lld (--force-seq-len to override)\n",
                 (long long)requested, (long long)context, (long long)context);
    return context;
}

void check_doc_range(const std::string &text_path, const std::string &doc_range) {
    const llama::DocRange r = llama::parse_doc_range(doc_range);
    const std::vector<std::string> docs = llama::split_documents(llama::read_text_file(text_path));
    if (docs.empty()) fail(GPTQ_ERR_FORMAT, "%s: no documents (is it empty?)", text_path.c_str());
    llama::select_documents(docs, r);
}

std::string human_bytes(int64_t b) {
    char buf[32];
    if (b >= (1 << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", double(b) / (1 << 20));
    else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024);
    else std::snprintf(buf, sizeof buf, "%lld B", (long long)b);
    return buf;
}

} // namespace cli
