// Errors of the model tooling: an exception carrying a gptq_status, caught by the CLI and tests.
#pragma once

#include <gptq/gptq.h>

#include <stdexcept>
#include <string>

namespace llama {

class Error : public std::runtime_error {
public:
    Error(gptq_status status, const std::string &msg) : std::runtime_error(msg), status_(status) {}
    gptq_status status() const { return status_; }

private:
    gptq_status status_;
};

[[noreturn]] void fail(gptq_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Turns a failed libgptq call into an Error that carries the library's own message.
void check(gptq_ctx *ctx, gptq_status status, const char *what);

} // namespace llama
