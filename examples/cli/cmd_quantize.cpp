// gptq quantize: sequential GPTQ (or RTN) of a whole model, written as a GPTQ checkpoint.
#include "checkpoint.h"
#include "commands.h"
#include "common.h"
#include "convert.h"
#include "error.h"
#include "eval.h"
#include "file_io.h"
#include "loaders.h"
#include "memory_report.h"
#include "path_checks.h"
#include "quant_report.h"
#include "sequential.h"
#include "stream_quantize.h"

#include <cctype>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace cli {

using llama::fail;

namespace {

CommandSpec spec() {
    CommandSpec s{"quantize", "MODEL -o OUT [options]",
                  "Quantizes every linear layer of MODEL (llama2.c .bin or Hugging Face directory)\n"
                  "block by block with GPTQ, calibrating each block on the outputs of the\n"
                  "already-quantized blocks, and writes OUT/model.safetensors (GPTQ layout; shards\n"
                  "+ index past --max-shard-size), config.json and quantize_config.json. Each block\n"
                  "is written as soon as it is quantized, into OUT.tmp-XXXXXX, renamed to OUT at the\n"
                  "end (an existing checkpoint OUT is replaced whole; an error leaves it untouched).\n"
                  "Embeddings and lm_head stay unquantized.",
                  {{"output", "DIR", "output directory (replaced whole if it holds a checkpoint)", ""},
                   {"method", "NAME", "gptq, or rtn (round to nearest, no calibration)", "gptq"},
                   {"bits", "N", "bits per weight: 2, 3, 4 or 8", "4"},
                   {"group-size", "N", "columns per quantization group; -1 = one group per row", "128"},
                   {"sym", "", "symmetric quantization (written as checkpoint_format gptq / v1)", ""},
                   {"act-order", "", "quantize columns by descending Hessian diagonal (desc_act)", ""},
                   {"static-groups", "", "fix group parameters before GPTQ runs", ""},
                   {"damp", "X", "relative damping of the Hessian diagonal", "0.01"},
                   {"damp-increment", "X", "damping added when a Cholesky fails (0 = no retry)", "0.01"},
                   {"damp-max", "X", "cap on the damping", "1.0"},
                   {"block-size", "N", "columns per lazy-update block", "128"},
                   {"mse", "", "search a clipping range per group (MSE)", ""},
                   {"mse-grid", "N", "clipping search steps", "100"},
                   {"mse-maxshrink", "X", "largest relative shrink of the range", "0.8"},
                   {"mse-norm", "X", "error norm of the clipping search", "2.4"},
                   {"no-true-sequential", "", "quantize all modules of a block from one forward pass", ""},
                   {"calib", "FILE", "calibration text, documents separated by <|endoftext|> lines", ""},
                   {"calib-docs", "A:B", "documents to calibrate on (A..B-1, as in Python)", "0:"},
                   {"calib-tokens", "N", "at most N calibration tokens in all (0 = no limit)", "0"},
                   {"seq-len", "N", "cut each document at N tokens (0 = the model's seq_len)", "0"},
                   {"tokenizer", "DIR|FILE", "tokenizer.json, its directory, or a llama2.c .bin (default: found next to MODEL)", ""},
                   {"dtype", "NAME", "dtype of unquantized tensors: auto, f32, f16 or bf16", "auto"},
                   {"no-rtn-compare", "", "skip the RTN column of the per-layer table", ""},
                   {"heatmap", "FILE.png", "write a per-layer/per-module relative-error heatmap", ""},
                   {"quiet", "", "no progress bar and no per-layer table", ""},
                   {"nsamples", "N", "calibrate on N random windows of --seq-len tokens (default 2048, capped by the model) of the whole text (the paper's protocol; the default for a text without <|endoftext|> lines)", "128"},
                   {"seed", "S", "random seed of the calibration windows", "0"},
                   {"force-seq-len", "", "allow --seq-len beyond the model's context", ""},
                   {"layers", "A:B", "quantize only blocks A..B-1 (others are written unquantized)", ""},
                   {"act-dtype", "NAME", "calibration activations kept between blocks as f32, f16 or bf16", "f32"},
                   {"calib-random", "", "random token ids instead of --calib text (benchmarks): --calib-tokens in --seq-len sequences", ""},
                   {"max-shard-size", "SIZE", "largest output shard (bytes, or with KB/MB/GB, KiB/MiB/GiB)", "4GB"}}};
    s.options.push_back({"format", "NAME",
                         "checkpoint_format of the zero points: v1 (\"gptq\") or v2 (\"gptq_v2\"); "
                         "auto = v1 for --sym, v2 otherwise (see README for which reader takes which)",
                         "auto"});
    s.options.push_back({"true-sequential", "", "quantize a block's module groups in order (the default)", ""});
    for (const OptionSpec &o : backend_options()) s.options.push_back(o);
    // AutoGPTQ / GPTQModel / GPTQ-for-LLaMa spellings (underscores are accepted anyway).
    s.aliases = {{"desc-act", "act-order"},          {"damp-percent", "damp"},
                 {"percdamp", "damp"},               {"damp-auto-increment", "damp-increment"},
                 {"wbits", "bits"},                  {"groupsize", "group-size"},
                 {"checkpoint-format", "format"},    {"out", "output"},
                 {"output-dir", "output"},           {"quant-method", "method"}};
    s.required = {{"output", "always"},
                  {"calib", "with --method gptq"},
                  {"calib-docs", "with a multi-document --calib, so the evaluation documents stay unseen"}};
    return s;
}

// "4GB" -> 4e9, "512MiB" -> 2^29, "1000" -> 1000.
uint64_t parse_size(const std::string &text) {
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"KB", 1e3},
                 {"MB", 1e6},     {"GB", 1e9},        {"B", 1.0}};
    char *end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    double mult = 1.0;
    const std::string rest = end ? std::string(end) : "";
    if (!rest.empty()) {
        mult = 0.0;
        for (const auto &u : units)
            if (rest == u.suffix) mult = u.mult;
    }
    const double bytes = v * mult;
    if (end == text.c_str() || mult == 0.0 || !(bytes >= 1.0) || bytes > 1e18)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--max-shard-size: '%s' is not a size such as 4GB",
             text.c_str());
    return uint64_t(bytes);
}

// Every option read and checked before anything is loaded: a mistake costs nothing.
struct CheckedArgs {
    llama::QuantizeOptions opt;
    llama::SaveOptions save;
    std::string model_path, out, method;
};

CheckedArgs check_args(const Args &a) {
    CheckedArgs c;
    if (a.positional().size() != 1) fail(GPTQ_ERR_INVALID_ARGUMENT, "quantize: expected one MODEL (see --help)");
    if (!a.has("output")) fail(GPTQ_ERR_INVALID_ARGUMENT, "quantize: -o OUT is required");
    c.model_path = a.positional()[0];
    c.out = a.get("output");
    c.method = a.get("method");
    if (c.method != "gptq" && c.method != "rtn")
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--method: '%s' is not gptq or rtn", c.method.c_str());
    if (a.has("true-sequential") && a.has("no-true-sequential"))
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--true-sequential and --no-true-sequential contradict each other");

    llama::QuantizeOptions &opt = c.opt;
    gptq_quant_params &p = opt.params;
    p.bits = int32_t(a.get_int("bits", 2, 8));  // 5..7: the library's message below
    p.group_size = int32_t(a.get_int("group-size", INT32_MIN, INT32_MAX));
    p.sym = a.has("sym");
    p.desc_act = a.has("act-order");
    p.static_groups = a.has("static-groups");
    p.damp_percent = float(a.get_double("damp", 0.0, 1.0));
    p.damp_auto_increment = float(a.get_double("damp-increment", 0.0, 1.0));
    p.damp_max = float(a.get_double("damp-max", 0.0, 1.0));
    p.block_size = int32_t(a.get_int("block-size", 1, INT32_MAX));
    p.mse = a.has("mse") ? GPTQ_MSE_ON : GPTQ_MSE_OFF;
    p.mse_grid = int32_t(a.get_int("mse-grid", 1, INT32_MAX));
    p.mse_maxshrink = float(a.get_double("mse-maxshrink", 0.0, 1.0));
    p.mse_norm = float(a.get_double("mse-norm", 0.0));
    // The library's own check, so the tool refuses exactly what quantization would.
    if (gptq_quant_params_validate(&p) != GPTQ_OK) {
        std::string msg = gptq_last_error(nullptr);
        if (msg.compare(0, 7, "layer: ") == 0) msg = msg.substr(7);  // no layer named here
        fail(GPTQ_ERR_INVALID_ARGUMENT, "quantization options: %s", msg.c_str());
    }
    opt.rtn = c.method == "rtn";
    opt.true_sequential = !a.has("no-true-sequential");
    opt.compare_rtn = !a.has("no-rtn-compare");
    const std::string fmt = a.get("format");
    if (fmt == "v1" || fmt == "gptq") opt.zeros_format = GPTQ_ZEROS_V1;
    else if (fmt == "v2" || fmt == "gptq_v2") opt.zeros_format = GPTQ_ZEROS_V2;
    else if (fmt != "auto") fail(GPTQ_ERR_INVALID_ARGUMENT, "--format: '%s' is not v1, v2 or auto", fmt.c_str());

    std::string dtype = a.get("dtype");
    for (char &ch : dtype) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (dtype != "auto" && dtype != "f32" && dtype != "fp32" && dtype != "float32" && dtype != "f16" &&
        dtype != "fp16" && dtype != "float16" && dtype != "bf16")
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--dtype: '%s' is not auto, f32, f16 or bf16", a.get("dtype").c_str());

    if (!opt.rtn && !a.has("calib") && !a.has("calib-random"))
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--method gptq needs --calib FILE (calibration text; or --calib-random)");
    const std::string act = a.get("act-dtype");
    if (act == "f32") opt.act_dtype = GPTQ_DTYPE_F32;
    else if (act == "f16") opt.act_dtype = GPTQ_DTYPE_F16;
    else if (act == "bf16") opt.act_dtype = GPTQ_DTYPE_BF16;
    else fail(GPTQ_ERR_INVALID_ARGUMENT, "--act-dtype: '%s' is not f32, f16 or bf16", act.c_str());
    if (a.has("layers")) {
        const std::string r = a.get("layers");
        char *end = nullptr;
        const long first = std::strtol(r.c_str(), &end, 10);
        if (*end != ':' || end == r.c_str())
            fail(GPTQ_ERR_INVALID_ARGUMENT, "--layers: '%s' is not A:B", r.c_str());
        const char *b = end + 1;
        const long last = std::strtol(b, &end, 10);
        if (*end != '\0' || end == b || first < 0 || last <= first || last > INT32_MAX)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "--layers: '%s' is not A:B with 0 <= A < B", r.c_str());
        opt.first_layer = int(first);
        opt.last_layer = int(last);
    }
    c.save.dtype = a.get("dtype");
    c.save.max_shard_bytes = parse_size(a.get("max-shard-size"));
    if (a.has("calib")) {
        require_input_file(a.get("calib"), "--calib");
        // A multi-document text in document mode must name its calibration documents; the
        // window protocol (--nsamples, or a single-document text) samples the whole file.
        if (!a.has("calib-docs") && !a.has("nsamples") && !is_single_document(a.get("calib")))
            fail(GPTQ_ERR_INVALID_ARGUMENT,
                 "--calib needs --calib-docs A:B: choose the calibration documents explicitly, "
                 "disjoint from the ones you evaluate on (e.g. calibrate on the first documents, "
                 "evaluate on the rest)");
        check_doc_range(a.get("calib"), a.get("calib-docs"));
    }
    a.get_int("calib-tokens", 0, INT64_MAX);
    a.get_int("nsamples", 1, INT32_MAX);
    a.get_int("seed", 0, INT64_MAX);
    a.get_int("seq-len", 0, INT32_MAX);
    if (a.has("tokenizer")) require_input_file_or_dir(a.get("tokenizer"), "--tokenizer");
    check_backend_options(a);
    require_output_dir(c.out, "-o");
    if (a.has("heatmap")) require_output_file(a.get("heatmap"), "--heatmap");
    return c;
}

} // namespace

int cmd_quantize(int argc, char **argv) {
    const CommandSpec sp = spec();
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    const CheckedArgs c = check_args(a);
    const llama::QuantizeOptions &opt = c.opt;
    const std::string &model_path = c.model_path, &out = c.out, &method = c.method;
    const bool quiet = a.has("quiet");
    if (identify_model(model_path, quiet) == ModelKind::GptqDirectory)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "%s is already quantized (a GPTQ checkpoint)", model_path.c_str());
    if (opt.zeros_format == GPTQ_ZEROS_V1 && !opt.params.sym)
        std::fprintf(stderr,
                     "warning: --format v1 with asymmetric quantization: v1 stores zero - 1, so "
                     "a zero point of 0 is read back as %d by every v1 reader; the per-layer "
                     "errors below include that effect\n", 1 << opt.params.bits);

    const auto t0 = std::chrono::steady_clock::now();
    CtxPtr ctx = make_context(a);
    // Hugging Face weights stay memory-mapped in their stored dtype until their block runs.
    llama::Model m = load_model_checked(model_path, ctx.get(), /*lazy=*/true);
    if (m.quant.quantized) fail(GPTQ_ERR_INVALID_ARGUMENT, "%s is already quantized", model_path.c_str());
    std::string tok_path;
    std::vector<std::vector<int32_t>> calib;
    if (a.has("calib-random")) {
        const int64_t seq_len = a.get_int("seq-len") > 0 ? a.get_int("seq-len") : m.cfg.seq_len;
        const int64_t total = a.get_int("calib-tokens");
        if (total < seq_len || seq_len <= 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "--calib-random needs --calib-tokens >= --seq-len > 0");
        std::mt19937 rng(1);
        calib.assign(size_t(total / seq_len), std::vector<int32_t>(size_t(seq_len)));
        for (auto &sq : calib)
            for (int32_t &t : sq) t = int32_t(rng() % uint32_t(m.cfg.vocab_size));
    } else if (a.has("calib")) {
        tok_path = find_tokenizer(a, model_path, m.cfg.vocab_size);
        const auto tokp = open_tokenizer(tok_path, m.cfg.vocab_size);
        const llama::Tokenizer &tok = *tokp;
        const std::string calib_path = a.get("calib");
        if (a.has("nsamples") || is_single_document(calib_path)) {
            // The paper's protocol: random windows of the tokenized text (default 128 x 2048).
            if (a.has("calib-tokens"))
                fail(GPTQ_ERR_INVALID_ARGUMENT, "--calib-tokens applies to documents; windows take --nsamples x --seq-len tokens");
            const int64_t n = a.get_int("nsamples");
            const int64_t len = capped_seq_len(a, m.cfg, a.get_int("seq-len") > 0 ? a.get_int("seq-len") : 2048);
            const std::vector<int32_t> all = tokenize_text(tok, calib_path, a.get("calib-docs"));
            calib = llama::sample_windows(all, n, len, uint64_t(a.get_int("seed")));
            if (!quiet)
                std::fprintf(stderr, "calibration: %lld windows x %lld tokens drawn from %zu tokens (seed %lld)\n",
                             (long long)n, (long long)len, all.size(), a.get_int("seed"));
        } else {
            const int64_t seq_len = capped_seq_len(a, m.cfg, a.get_int("seq-len") > 0 ? a.get_int("seq-len") : m.cfg.seq_len);
            calib = load_sequences(tok, calib_path, a.get("calib-docs"), seq_len, a.get_int("calib-tokens", 0, INT64_MAX));
            int64_t tokens = 0;
            for (const auto &s : calib) tokens += int64_t(s.size());
            if (!quiet)
                std::fprintf(stderr, "calibration: %zu documents, %lld tokens\n", calib.size(), (long long)tokens);
        }
    } else {
        try {
            tok_path = find_tokenizer(a, model_path, m.cfg.vocab_size);
        } catch (const llama::Error &) {
            tok_path.clear();  // RTN needs no tokenizer; the output then has none either
        }
    }
    // Quantization treats rows independently, so converting q/k to the HF row order first
    // gives the same layers a reader of the checkpoint expects.
    llama::to_hf_layout(m);

    if (!quiet)
        std::fprintf(stderr, "backend: %s (%s)\n", gptq_backend_name(gptq_ctx_backend(ctx.get())),
                     gptq_ctx_device_name(ctx.get()));
    llama::SaveOptions so = c.save;
    so.tokenizer_path = tok_path;
    if (llama::is_directory(model_path)) so.source_dir = model_path;
    if (!quiet) {
        int64_t tokens = 0;
        for (const auto &sq : calib) tokens += int64_t(sq.size());
        const int64_t seq = calib.empty() ? 0 : int64_t(calib[0].size());
        std::fprintf(stderr, "memory: estimated peak %s (now %s resident at most)\n",
                     human_bytes(int64_t(llama::estimate_peak_bytes(m, tokens, seq, opt.act_dtype,
                                                                   opt.ffn_cache_bytes))).c_str(),
                     human_bytes(int64_t(llama::peak_rss_bytes())).c_str());
    }
    const int64_t n_quantized =
        (opt.last_layer < 0 ? m.cfg.n_layers : opt.last_layer) - opt.first_layer;
    llama::ProgressBar bar(method, n_quantized * llama::kNumModules);
    auto progress = [&](const llama::QuantizeProgress &pr) {
        if (quiet) return;
        if (pr.block_done) {
            std::fprintf(stderr,
                         "\rlayer %d: forward %.1f s, hessian %.1f s, quantize %.1f s, "
                         "metrics %.1f s, write %.1f s\n",
                         pr.layer, pr.forward_s, pr.hessian_s, pr.quantize_s, pr.metrics_s,
                         pr.write_s);
            return;
        }
        if (!pr.activity.empty()) {
            bar.update(pr.done, pr.activity);
            return;
        }
        bar.update(pr.done, "layer " + std::to_string(pr.layer) + " " +
                                llama::module_short_name(pr.module));
    };
    auto report = [&](const std::vector<llama::LayerRecord> &records) {
        if (!quiet) {
            bar.finish();
            llama::print_layer_table(stdout, records, opt.rtn);
        }
        if (a.has("heatmap"))
            llama::write_error_heatmap(a.get("heatmap"), records, int(m.cfg.n_layers));
    };
    const llama::StreamResult res =
        llama::quantize_to_checkpoint(m, ctx.get(), calib, opt, out, so, progress, report);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t bytes = 0;
    for (const std::string &f : res.shards) bytes += llama::file_size(llama::join_path(out, f));
    const size_t shards = res.shards.size();
    std::printf("wrote %s: %s in %d shard%s, %.2f s, peak RSS %s\n", out.c_str(),
                human_bytes(bytes).c_str(), int(shards), shards == 1 ? "" : "s", secs,
                human_bytes(int64_t(llama::peak_rss_bytes())).c_str());
    return 0;
}

} // namespace cli
