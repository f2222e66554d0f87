// Internal error signalling: library code throws gptq::Error; the extern "C" layer in
// src/api/ catches it (and std::bad_alloc, and anything else) and turns it into a status
// plus the context's last-error message. Nothing thrown ever crosses the C ABI.
#pragma once

#include <gptq/gptq.h>

#include <stdexcept>
#include <string>

namespace gptq {

class Error : public std::runtime_error {
public:
    Error(gptq_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    gptq_status status() const { return status_; }

private:
    gptq_status status_;
};

// printf-style; the message should name the argument, shape or layer at fault.
[[noreturn]] void fail(gptq_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

} // namespace gptq
