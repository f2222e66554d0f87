#include "error.h"

#include <cstdarg>
#include <cstdio>

namespace llama {

void fail(gptq_status status, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw Error(status, buf);
}

void check(gptq_ctx *ctx, gptq_status status, const char *what) {
    if (status == GPTQ_OK) return;
    const char *detail = gptq_last_error(ctx);
    fail(status, "%s: %s%s%s", what, gptq_status_string(status), *detail ? ": " : "", detail);
}

} // namespace llama
