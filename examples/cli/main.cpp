// gptq: quantize Llama-family models with GPTQ, evaluate, generate, inspect checkpoints.
#include "commands.h"
#include "common.h"
#include "error.h"

#include <gptq/gptq.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

namespace {

void usage(FILE *out) {
    std::fprintf(out,
                 "usage: gptq COMMAND [options]\n\n"
                 "commands:\n"
                 "  quantize MODEL -o OUT   GPTQ (or RTN) quantization of a whole model\n"
                 "  eval MODEL --text FILE  perplexity under the document protocol\n"
                 "  generate MODEL --prompt TEXT\n"
                 "                          text generation\n"
                 "  inspect CKPT            layers, bits, group size and sizes of a checkpoint\n"
                 "  tokenize --tokenizer DIR|FILE --string S\n"
                 "                          token ids of a text as JSON\n\n"
                 "gptq COMMAND --help shows the options of a command.\n"
                 "libgptq %s\n",
                 gptq_version_string());
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!std::strcmp(argv[1], "--version")) {
        std::printf("gptq (libgptq %s)\n", gptq_version_string());
        return 0;
    }
    struct {
        const char *name;
        int (*fn)(int, char **);
    } const commands[] = {{"quantize", cli::cmd_quantize},
                          {"eval", cli::cmd_eval},
                          {"generate", cli::cmd_generate},
                          {"inspect", cli::cmd_inspect},
                          {"tokenize", cli::cmd_tokenize}};
    for (const auto &c : commands) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            return c.fn(argc - 2, argv + 2);
        } catch (const llama::Error &e) {
            std::fprintf(stderr, "gptq %s: error: %s\n", c.name, e.what());
            return e.status() == GPTQ_ERR_INVALID_ARGUMENT ? 2 : 1;
        } catch (const nlohmann::json::exception &e) {
            // A reader let a JSON-library exception through: say what it means, not its tag.
            std::fprintf(stderr, "gptq %s: error: unexpected content in a JSON file: %s\n", c.name,
                         cli::json_error_text(e).c_str());
            return 1;
        } catch (const std::bad_alloc &) {
            std::fprintf(stderr, "gptq %s: error: out of memory\n", c.name);
            return 1;
        } catch (const std::exception &e) {
            std::fprintf(stderr, "gptq %s: error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "gptq: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
