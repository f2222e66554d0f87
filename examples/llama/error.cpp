#include "error.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

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
    // The library's message already names the layer when it was given one: say it once.
    if (*detail && std::strstr(detail, what)) fail(status, "%s", detail);
    fail(status, "%s: %s%s%s", what, gptq_status_string(status), *detail ? ": " : "", detail);
}

} // namespace llama
