// Runs a shell command and returns its standard output (the tests drive `gptq tokenize`).
#pragma once

#include <string>

// status: the exit status, or -1 when the command did not exit normally.
std::string run_command(const std::string &cmd, int *status);

// s in single quotes for the shell.
std::string shell_quote(const std::string &s);
