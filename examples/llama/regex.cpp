#include "regex.h"

#include "error.h"
#include "utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

namespace llama {

namespace {

pcre2_code *as_code(void *p) { return static_cast<pcre2_code *>(p); }

struct MatchDataDeleter {
    void operator()(pcre2_match_data *m) const { pcre2_match_data_free(m); }
};

} // namespace

Regex::Regex(const std::string &pattern, const std::string &what) {
    int err = 0;
    PCRE2_SIZE err_at = 0;
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &err_at, nullptr);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail(GPTQ_ERR_FORMAT, "%s: regex /%s/ does not compile at offset %zu: %s", what.c_str(),
             pattern.c_str(), size_t(err_at), reinterpret_cast<const char *>(msg));
    }
    // JIT is an optimisation: when the platform lacks it, the interpreter gives the same matches.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    code_ = code;
}

Regex::~Regex() { pcre2_code_free(as_code(code_)); }

void Regex::for_each_match(const char *s, size_t n,
                           const std::function<void(size_t, size_t)> &on_match) const {
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(as_code(code_), nullptr));
    if (!md) fail(GPTQ_ERR_OUT_OF_MEMORY, "regex: out of memory");
    size_t at = 0;
    while (at < n) {
        const int rc = pcre2_match(as_code(code_), reinterpret_cast<PCRE2_SPTR>(s), n, at,
                                   PCRE2_NO_UTF_CHECK, md.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) return;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            fail(GPTQ_ERR_FORMAT, "regex match failed: %s", reinterpret_cast<const char *>(msg));
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md.get());
        const size_t b = ov[0], e = ov[1];
        if (e > b) {
            on_match(b, e);
            at = e;
        } else {
            at = b + utf8_char_len(s, n, b);
        }
    }
}

std::string Regex::replace_all(const std::string &s, const std::string &with) const {
    std::string out;
    size_t last = 0;
    for_each_match(s.data(), s.size(), [&](size_t b, size_t e) {
        out.append(s, last, b - last);
        out += with;
        last = e;
    });
    out.append(s, last, std::string::npos);
    return out;
}

} // namespace llama
