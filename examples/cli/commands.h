// The gptq subcommands; each returns the process exit code.
#pragma once

namespace cli {

int cmd_quantize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

} // namespace cli
