// Shared setup of the end-to-end tests: data paths from the command line, a gptq context,
// scratch directories, and cmocka glue for C++ exceptions.
#pragma once

#include <gptq/gptq.h>

#include <functional>
#include <string>
#include <vector>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
extern "C" {
#include <cmocka.h>
}
// cmocka's fail() macro would swallow llama::fail and std::ios::fail; keep fail_msg working.
#undef fail
#undef fail_msg
#define fail_msg(msg, ...)                                \
    do {                                                  \
        print_error("ERROR: " msg "\n", ##__VA_ARGS__);   \
        _fail(__FILE__, __LINE__);                        \
    } while (0)

namespace e2e {

// argv: MODEL_DIR TEXT_FILE [BACKEND]. MODEL_DIR holds stories260K.bin and tok512.bin.
struct Paths {
    std::string model, tokenizer, text;
    gptq_backend backend = GPTQ_BACKEND_CPU;
};
extern Paths g_paths;

// Fills g_paths; returns false (after printing usage) on bad arguments.
bool parse_args(int argc, char **argv);

// A context on the chosen backend; the test program exits 77 (skipped) if it is unusable.
gptq_ctx *shared_ctx();
void destroy_shared_ctx();

// A fresh empty directory under $TMPDIR, removed by remove_tree.
std::string make_temp_dir();
void remove_tree(const std::string &dir);

void write_bytes(const std::string &path, const std::string &bytes);
std::string read_bytes(const std::string &path);

// Runs fn and checks that it throws llama::Error with the given status; returns its message.
std::string expect_error(const std::function<void()> &fn, gptq_status status);

// Runs fn; an exception fails the test with its message instead of aborting the program.
void no_throw(const std::function<void()> &fn);

} // namespace e2e
