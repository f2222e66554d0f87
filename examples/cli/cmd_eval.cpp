// gptq eval: perplexity of a model (fp32 or quantized) on a text under the document protocol.
#include "commands.h"
#include "common.h"
#include "error.h"
#include "loaders.h"
#include "path_checks.h"
#include "quant_report.h"

#include <chrono>
#include <climits>
#include <cstdio>

namespace cli {

using llama::fail;

int cmd_eval(int argc, char **argv) {
    CommandSpec sp{"eval", "MODEL --text FILE [options]",
                   "Perplexity of MODEL (llama2.c .bin, Hugging Face directory or GPTQ checkpoint)\n"
                   "on FILE: documents are split at <|endoftext|> lines, each scored as one\n"
                   "sequence that starts with BOS and is cut at seq_len; perplexity is\n"
                   "exp(mean NLL over all predicted tokens). A text without separator lines\n"
                   "(e.g. WikiText-2's wiki.test.raw), or --windows L, gets the paper's protocol:\n"
                   "the whole text tokenized once and scored in non-overlapping windows of L tokens.",
                   {{"text", "FILE", "evaluation text", ""},
                    {"eval-docs", "A:B", "documents to evaluate (A..B-1, as in Python)", "0:"},
                    {"seq-len", "N", "cut each document at N tokens (0 = the model's seq_len)", "0"},
                    {"tokenizer", "DIR|FILE", "tokenizer.json, its directory, or a llama2.c .bin (default: found next to MODEL)", ""},
                    {"quiet", "", "no progress bar", ""},
                    {"windows", "L", "score non-overlapping windows of L tokens of the whole text (the paper's protocol; the default for a text without <|endoftext|> lines)", "2048"},
                    {"force-seq-len", "", "allow windows / --seq-len beyond the model's context", ""}}};
    for (const OptionSpec &o : backend_options()) sp.options.push_back(o);
    sp.required = {{"text", "always"}};
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    // Every option checked before the model is loaded.
    if (a.positional().size() != 1) fail(GPTQ_ERR_INVALID_ARGUMENT, "eval: expected one MODEL (see --help)");
    if (!a.has("text")) fail(GPTQ_ERR_INVALID_ARGUMENT, "eval: --text FILE is required");
    require_input_file(a.get("text"), "--text");
    check_doc_range(a.get("text"), a.get("eval-docs"));
    a.get_int("seq-len", 0, INT32_MAX);
    if (a.has("windows")) a.get_int("windows", 2, INT32_MAX);
    if (a.has("tokenizer")) require_input_file_or_dir(a.get("tokenizer"), "--tokenizer");
    check_backend_options(a);
    const std::string model_path = a.positional()[0];
    identify_model(model_path, a.has("quiet"));

    CtxPtr ctx = make_context(a);
    const llama::Model m = load_for_inference(model_path, ctx.get(), a.has("quiet"));
    const auto tokp = open_tokenizer(find_tokenizer(a, model_path, m.cfg.vocab_size), m.cfg.vocab_size);
    const llama::Tokenizer &tok = *tokp;
    const std::string text_path = a.get("text");
    const bool windows = a.has("windows") || is_single_document(text_path);
    std::vector<std::vector<int32_t>> seqs;
    int64_t window_len = 0;
    if (windows) {
        // The paper's protocol: the text tokenized once, cut into windows of L tokens.
        // --seq-len names the window length too when --windows is not given.
        const bool by_seq_len = !a.has("windows") && a.get_int("seq-len") > 0;
        window_len = capped_seq_len(a, m.cfg, by_seq_len ? a.get_int("seq-len") : a.get_int("windows"));
        const std::vector<int32_t> all = tokenize_text(tok, text_path, a.get("eval-docs"));
        seqs = llama::split_windows(all, window_len);
        if (!a.has("quiet"))
            std::fprintf(stderr, "evaluation: %zu windows x %lld tokens of %zu tokens\n", seqs.size(),
                         (long long)window_len, all.size());
    } else {
        const int64_t seq_len = capped_seq_len(a, m.cfg, a.get_int("seq-len") > 0 ? a.get_int("seq-len") : m.cfg.seq_len);
        seqs = load_sequences(tok, text_path, a.get("eval-docs"), seq_len, 0);
    }
    const auto t0 = std::chrono::steady_clock::now();
    llama::ProgressBar bar("eval", int64_t(seqs.size()));
    const bool quiet = a.has("quiet");
    const llama::Forward fwd(m, ctx.get());
    const llama::EvalResult r = llama::evaluate(fwd, seqs, [&](size_t done, size_t) {
        if (!quiet) bar.update(int64_t(done));
    });
    if (!quiet) bar.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s %zu tokens %lld nll %.6f perplexity %.6f seconds %.2f backend %s\n",
                windows ? "windows" : "documents", seqs.size(), (long long)r.tokens, r.mean_nll(), r.perplexity(), secs,
                gptq_backend_name(gptq_ctx_backend(ctx.get())));
    if (!quiet) print_peak_rss();
    return 0;
}

} // namespace cli
