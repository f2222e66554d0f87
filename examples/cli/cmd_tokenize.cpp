// gptq tokenize: the token ids of a text as a JSON array, to check what calibration and
// evaluation feed the model.
#include "commands.h"
#include "args.h"
#include "error.h"
#include "file_io.h"
#include "tokenizer.h"

#include <cstdio>
#include <string>

namespace cli {

using llama::fail;

int cmd_tokenize(int argc, char **argv) {
    const CommandSpec sp{"tokenize", "--tokenizer DIR|FILE (--text FILE | --string S) [--no-special]",
                         "Prints the token ids of a text as a JSON array. The tokenizer is a Hugging\n"
                         "Face tokenizer.json (or a directory holding one) or a llama2.c tok*.bin.",
                         {{"tokenizer", "DIR|FILE", "tokenizer.json, its directory, or a llama2.c .bin", ""},
                          {"text", "FILE", "tokenize the contents of FILE", ""},
                          {"string", "S", "tokenize S", ""},
                          {"no-special", "", "no BOS/EOS template (special-token strings in the text still count)", ""}}};
    Args a(sp, argc, argv);
    if (a.help()) {
        print_help(sp);
        return 0;
    }
    if (!a.positional().empty()) fail(GPTQ_ERR_INVALID_ARGUMENT, "tokenize: unexpected argument '%s'",
                                      a.positional()[0].c_str());
    if (!a.has("tokenizer")) fail(GPTQ_ERR_INVALID_ARGUMENT, "tokenize: --tokenizer is required");
    if (a.has("text") == a.has("string"))
        fail(GPTQ_ERR_INVALID_ARGUMENT, "tokenize: give exactly one of --text FILE and --string S");
    const std::unique_ptr<llama::Tokenizer> tok = llama::load_tokenizer(a.get("tokenizer"));
    const std::string text = a.has("text") ? llama::read_text_file(a.get("text")) : a.get("string");
    const std::vector<int32_t> ids = tok->encode(text, !a.has("no-special"));
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(ids[i]);
    }
    out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
}

} // namespace cli
