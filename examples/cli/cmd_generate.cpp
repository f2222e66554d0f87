// gptq generate: text from a prompt, prefill in one pass then KV-cached decoding.
#include "commands.h"
#include "common.h"
#include "error.h"
#include "generate.h"
#include "loaders.h"
#include "path_checks.h"

#include <climits>
#include <cstdio>

namespace cli {

using llama::fail;

int cmd_generate(int argc, char **argv) {
    CommandSpec sp{"generate", "MODEL --prompt TEXT [options]",
                   "Continues TEXT with MODEL (llama2.c .bin, Hugging Face directory or GPTQ\n"
                   "checkpoint) and prints the prompt and the generated text.",
                   {{"prompt", "TEXT", "prompt text", ""},
                    {"steps", "N", "new tokens at most", "128"},
                    {"temperature", "T", "sampling temperature; 0 = greedy", "0"},
                    {"top-p", "P", "nucleus sampling threshold (1 = off)", "0.9"},
                    {"seed", "N", "random seed", "42"},
                    {"tokenizer", "DIR|FILE", "tokenizer.json, its directory, or a llama2.c .bin (default: found next to MODEL)", ""}}};
    for (const OptionSpec &o : backend_options()) sp.options.push_back(o);
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    // Every option checked before the model is loaded.
    if (a.positional().size() != 1) fail(GPTQ_ERR_INVALID_ARGUMENT, "generate: expected one MODEL (see --help)");
    llama::GenerateOptions go;
    go.steps = a.get_int("steps", 0, INT32_MAX);
    go.temperature = float(a.get_double("temperature", 0.0, 100.0));
    go.top_p = float(a.get_double("top-p", 0.0, 1.0));
    if (!(go.top_p > 0.0f)) fail(GPTQ_ERR_INVALID_ARGUMENT, "--top-p: must be above 0 (1 = off)");
    go.seed = uint64_t(a.get_int("seed", 0));
    if (a.has("tokenizer")) require_input_file_or_dir(a.get("tokenizer"), "--tokenizer");
    check_backend_options(a);
    const std::string model_path = a.positional()[0];
    identify_model(model_path, false);

    CtxPtr ctx = make_context(a);
    const llama::Model m = load_for_inference(model_path, ctx.get(), false);
    const auto tokp = open_tokenizer(find_tokenizer(a, model_path, m.cfg.vocab_size), m.cfg.vocab_size);
    const llama::Tokenizer &tok = *tokp;
    const llama::Forward fwd(m, ctx.get());
    const std::string prompt = a.get("prompt");
    std::fputs(prompt.c_str(), stdout);
    llama::generate(fwd, tok, prompt, go, [](const std::string &piece) {
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    print_peak_rss();
    return 0;
}

} // namespace cli
