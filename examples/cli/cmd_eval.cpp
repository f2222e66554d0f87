// gptq eval: perplexity of a model (fp32 or quantized) on a text under the document protocol.
#include "commands.h"
#include "common.h"
#include "error.h"
#include "loaders.h"
#include "quant_report.h"

#include <chrono>
#include <cstdio>

namespace cli {

using llama::fail;

int cmd_eval(int argc, char **argv) {
    CommandSpec sp{"eval", "MODEL --text FILE [options]",
                   "Perplexity of MODEL (llama2.c .bin, Hugging Face directory or GPTQ checkpoint)\n"
                   "on FILE: documents are split at <|endoftext|> lines, each scored as one\n"
                   "sequence that starts with BOS and is cut at seq_len; perplexity is\n"
                   "exp(mean NLL over all predicted tokens).",
                   {{"text", "FILE", "evaluation text", ""},
                    {"eval-docs", "A:B", "documents to evaluate (inclusive range)", "0:"},
                    {"seq-len", "N", "cut each document at N tokens (0 = the model's seq_len)", "0"},
                    {"tokenizer", "FILE", "llama2.c tokenizer (default: found next to MODEL)", ""},
                    {"quiet", "", "no progress bar", ""}}};
    for (const OptionSpec &o : backend_options()) sp.options.push_back(o);
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    if (a.positional().size() != 1) fail(GPTQ_ERR_INVALID_ARGUMENT, "eval: expected one MODEL (see --help)");
    if (!a.has("text")) fail(GPTQ_ERR_INVALID_ARGUMENT, "eval: --text FILE is required");
    const std::string model_path = a.positional()[0];
    CtxPtr ctx = make_context(a);
    const llama::Model m = llama::load_model(model_path, ctx.get());
    const llama::Llama2cTokenizer tok(find_tokenizer(a, model_path, m.cfg.vocab_size), m.cfg.vocab_size);
    const int64_t seq_len = a.get_int("seq-len") > 0 ? a.get_int("seq-len") : m.cfg.seq_len;
    const auto seqs = load_sequences(tok, a.get("text"), a.get("eval-docs"), seq_len, 0);
    const auto t0 = std::chrono::steady_clock::now();
    llama::ProgressBar bar("eval", int64_t(seqs.size()));
    const bool quiet = a.has("quiet");
    const llama::Forward fwd(m, ctx.get());
    const llama::EvalResult r = llama::evaluate(fwd, seqs, [&](size_t done, size_t) {
        if (!quiet) bar.update(int64_t(done));
    });
    if (!quiet) bar.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("documents %zu tokens %lld nll %.6f perplexity %.6f seconds %.2f backend %s\n",
                seqs.size(), (long long)r.tokens, r.mean_nll(), r.perplexity(), secs,
                gptq_backend_name(gptq_ctx_backend(ctx.get())));
    return 0;
}

} // namespace cli
