#include "args.h"

#include "error.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace cli {

using llama::fail;

Args::Args(const CommandSpec &spec, int argc, char **argv) : spec_(spec) {
    bool only_positional = false;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (only_positional || a.size() < 2 || a[0] != '-' ) {
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
        if (a.compare(0, 2, "--") != 0) fail(GPTQ_ERR_INVALID_ARGUMENT, "unknown option '%s'", a.c_str());
        std::string name = a.substr(2), value;
        bool inline_value = false;
        const size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        const OptionSpec *o = nullptr;
        for (const OptionSpec &s : spec.options)
            if (s.name == name) o = &s;
        if (!o)
            fail(GPTQ_ERR_INVALID_ARGUMENT, "%s: unknown option '--%s' (see gptq %s --help)",
                 spec.name.c_str(), name.c_str(), spec.name.c_str());
        if (o->metavar.empty()) {
            if (inline_value) fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s takes no value", name.c_str());
            value = "1";
        } else if (!inline_value) {
            if (i + 1 >= argc) fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s needs a value", name.c_str());
            value = argv[++i];
        }
        values_[name] = value;
    }
}

std::string Args::get(const std::string &name) const {
    auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    for (const OptionSpec &s : spec_.options)
        if (s.name == name) return s.fallback;
    return "";
}

long long Args::get_int(const std::string &name) const {
    const std::string v = get(name);
    char *end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: '%s' is not an integer", name.c_str(), v.c_str());
    return x;
}

double Args::get_double(const std::string &name) const {
    const std::string v = get(name);
    char *end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end)
        fail(GPTQ_ERR_INVALID_ARGUMENT, "--%s: '%s' is not a number", name.c_str(), v.c_str());
    return x;
}

void print_help(const CommandSpec &spec) {
    std::printf("usage: gptq %s %s\n\n%s\n\noptions:\n", spec.name.c_str(), spec.usage.c_str(),
                spec.summary.c_str());
    for (const OptionSpec &o : spec.options) {
        std::string left = "  --" + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
        if (o.name == "output") left = "  -o, --output " + o.metavar;
        std::printf("%-30s %s", left.c_str(), o.help.c_str());
        if (!o.fallback.empty() && !o.metavar.empty()) std::printf(" (default: %s)", o.fallback.c_str());
        std::printf("\n");
    }
    std::printf("  %-28s %s\n", "-h, --help", "show this help");
}

} // namespace cli
