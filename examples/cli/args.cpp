#include "args.h"

#include "error.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cli {

using llama::fail;

namespace {

// --group_size and --group-size are the same option (Python tools use underscores).
std::string dashed(std::string s) {
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
}

// Edit distance (insertions, deletions, substitutions) for the "did you mean" hint.
size_t edit_distance(const std::string &a, const std::string &b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

const OptionSpec *find_option(const CommandSpec &spec, const std::string &name) {
    for (const OptionSpec &s : spec.options)
        if (s.name == name) return &s;
    for (const auto &al : spec.aliases)
        if (al.first == name) return find_option(spec, al.second);
    return nullptr;
}

} // namespace

std::string nearest_option(const CommandSpec &spec, const std::string &typed) {
    const std::string t = dashed(typed);
    std::string best;
    size_t best_d = SIZE_MAX;
    auto consider = [&](const std::string &name) {
        // A typed prefix of a name (--calib-t for --calib-tokens) counts as close.
        const size_t d = name.compare(0, t.size(), t) == 0 ? 1 : edit_distance(t, name);
        if (d < best_d) {
            best_d = d;
            best = name;
        }
    };
    for (const OptionSpec &s : spec.options) consider(s.name);
    for (const auto &al : spec.aliases) consider(al.first);
    // Close means at most a third of the name changed (at least 2 edits allowed).
    return best_d <= std::max<size_t>(2, t.size() / 3) ? best : "";
}

Args::Args(const CommandSpec &spec, int argc, char **argv) : spec_(spec) {
    bool only_positional = false;
    const char *cmd = spec.name.c_str();
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (only_positional || a.size() < 2 || a[0] != '-') {
            positional_.push_back(a);
            continue;
        }
        if (a == "--") {
            only_positional = true;
            continue;
        }
        if (a == "-h" || a == "--help") {
            help_ = true;
            continue;
        }
        if (a == "-o") a = "--output";
        if (a.compare(0, 2, "--") != 0) {
            // "-bits 4": a single dash before a long name.
            const std::string near = nearest_option(spec, a.substr(1));
            fail(GPTQ_ERR_INVALID_ARGUMENT, "unknown option '%s'%s%s%s (see gptq %s --help)",
                 a.c_str(), near.empty() ? "" : "; did you mean --", near.c_str(),
                 near.empty() ? "" : "?", cmd);
        }
        std::string typed = a.substr(2), value;
        bool inline_value = false;
        const size_t eq = typed.find('=');
        if (eq != std::string::npos) {
            value = typed.substr(eq + 1);
            typed = typed.substr(0, eq);
            inline_value = true;
        }
        const OptionSpec *o = find_option(spec, dashed(typed));
        if (!o) {
            const std::string near = nearest_option(spec, typed);
            if (!near.empty())
                fail(GPTQ_ERR_INVALID_ARGUMENT, "unknown option '--%s'; did you mean --%s? (see gptq %s --help)",
                     typed.c_str(), near.c_str(), cmd);
            fail(GPTQ_ERR_INVALID_ARGUMENT, "unknown option '--%s' (see gptq %s --help)", typed.c_str(), cmd);
        }
        if (o->metavar.empty()) {
            if (inline_value) fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s takes no value", typed.c_str());
            value = "1";
        } else if (!inline_value) {
            if (i + 1 >= argc) fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s needs a value", typed.c_str());
            value = argv[++i];
        }
        auto prev = spelled_.find(o->name);
        if (prev != spelled_.end() && prev->second != typed)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s and --%s are the same option; give it once",
                 prev->second.c_str(), typed.c_str());
        spelled_[o->name] = typed;
        values_[o->name] = value;
    }
}

std::string Args::get(const std::string &name) const {
    auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    for (const OptionSpec &s : spec_.options)
        if (s.name == name) return s.fallback;
    return "";
}

long long Args::get_int(const std::string &name, long long lo, long long hi) const {
    const std::string v = get(name);
    char *end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || (errno && errno != ERANGE))
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: '%s' is not an integer", name.c_str(), v.c_str());
    if (errno == ERANGE || x < lo || x > hi) {
        if (lo == INT32_MIN && hi == INT32_MAX)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: %s is out of range (not a 32-bit integer)",
                 name.c_str(), v.c_str());
        if (hi == LLONG_MAX)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: %s is out of range (must be >= %lld)",
                 name.c_str(), v.c_str(), lo);
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: %s is out of range (must be %lld to %lld)",
             name.c_str(), v.c_str(), lo, hi);
    }
    return x;
}

double Args::get_double(const std::string &name, double lo, double hi) const {
    const std::string v = get(name);
    char *end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: '%s' is not a number", name.c_str(), v.c_str());
    if (!std::isfinite(x))
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: '%s' is not a finite number", name.c_str(), v.c_str());
    if (x < lo || x > hi) {
        char range[64];
        if (hi == DBL_MAX) std::snprintf(range, sizeof range, ">= %g", lo);
        else if (lo == -DBL_MAX) std::snprintf(range, sizeof range, "<= %g", hi);
        else std::snprintf(range, sizeof range, "%g to %g", lo, hi);
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: %s is out of range (must be %s)", name.c_str(),
             v.c_str(), range);
    }
    return x;
}

void print_help(const CommandSpec &spec) {
    std::printf("usage: gptq %s %s\n\n%s\n\noptions:\n", spec.name.c_str(), spec.usage.c_str(),
                spec.summary.c_str());
    for (const OptionSpec &o : spec.options) {
        std::string left = "  --" + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
        if (o.name == "output") left = "  -o, --output " + o.metavar;
        std::printf("%-30s %s", left.c_str(), o.help.c_str());
        auto req = spec.required.find(o.name);
        if (req != spec.required.end())
            std::printf(" [required%s%s]", req->second == "always" ? "" : " ",
                        req->second == "always" ? "" : req->second.c_str());
        else if (!o.fallback.empty() && !o.metavar.empty())
            std::printf(" (default: %s)", o.fallback.c_str());
        std::string also;
        for (const auto &al : spec.aliases)
            if (al.second == o.name) also += (also.empty() ? "--" : ", --") + al.first;
        if (!also.empty()) std::printf(" (also %s)", also.c_str());
        std::printf("\n");
    }
    std::printf("  %-28s %s\n", "-h, --help", "show this help");
    std::printf("\nOption names may also be written with underscores (--group_size).\n");
}

} // namespace cli
