// gptq generate: text from a prompt, prefill in one pass then KV-cached decoding.
#include "commands.h"
#include "common.h"
#include "error.h"
#include "generate.h"
#include "loaders.h"

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
                    {"tokenizer", "FILE", "llama2.c tokenizer (default: found next to MODEL)", ""}}};
    for (const OptionSpec &o : backend_options()) sp.options.push_back(o);
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    if (a.positional().size() != 1) fail(GPTQ_ERR_INVALID_ARGUMENT, "generate: expected one MODEL (see --help)");
    const std::string model_path = a.positional()[0];
    CtxPtr ctx = make_context(a);
    const llama::Model m = llama::load_model(model_path, ctx.get());
    const llama::Llama2cTokenizer tok(find_tokenizer(a, model_path, m.cfg.vocab_size), m.cfg.vocab_size);
    llama::GenerateOptions go;
    go.steps = a.get_int("steps");
    go.temperature = float(a.get_double("temperature"));
    go.top_p = float(a.get_double("top-p"));
    go.seed = uint64_t(a.get_int("seed"));
    if (go.steps < 0 || go.temperature < 0 || go.top_p <= 0 || go.top_p > 1)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "generate: need steps >= 0, temperature >= 0, 0 < top-p <= 1");
    const llama::Forward fwd(m, ctx.get());
    const std::string prompt = a.get("prompt");
    std::fputs(prompt.c_str(), stdout);
    llama::generate(fwd, tok, prompt, go, [](const std::string &piece) {
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    return 0;
}

} // namespace cli
