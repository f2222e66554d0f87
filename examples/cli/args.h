// A small command-line parser: "--name value", "--name=value", flags, positionals, --help.
// Option names may also be spelled with underscores (--group_size) or by an alias (AutoGPTQ
// / GPTQModel names such as --desc-act); an unknown name gets a "did you mean" suggestion.
#pragma once

#include <cfloat>
#include <climits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cli {

struct OptionSpec {
    std::string name;      // without the leading "--"
    std::string metavar;   // empty: a flag without value
    std::string help;
    std::string fallback;  // shown in help; returned by get() when absent
};

struct CommandSpec {
    std::string name, usage, summary;
    std::vector<OptionSpec> options;
    // Other spellings of an option: {alias, name}, e.g. {"desc-act", "act-order"}.
    std::vector<std::pair<std::string, std::string>> aliases = {};
    // Options that are required, and when: {name, "always"} or {name, "with --calib"}; shown
    // in --help instead of a default. The command itself enforces them.
    std::map<std::string, std::string> required = {};
};

class Args {
public:
    // Throws llama::Error(GPTQ_ERR_INVALID_ARGUMENT) on unknown options (suggesting the
    // nearest name), missing values, or an option given twice under two spellings.
    Args(const CommandSpec &spec, int argc, char **argv);

    bool help() const { return help_; }
    bool has(const std::string &name) const { return values_.count(name) != 0; }
    std::string get(const std::string &name) const;
    // An integer in [lo, hi]; anything else (not a number, trailing text, out of range —
    // never truncated) is refused with a message naming the option.
    long long get_int(const std::string &name, long long lo = LLONG_MIN,
                      long long hi = LLONG_MAX) const;
    // A finite number in [lo, hi] (NaN and infinities are refused).
    double get_double(const std::string &name, double lo = -DBL_MAX, double hi = DBL_MAX) const;
    const std::vector<std::string> &positional() const { return positional_; }

private:
    const CommandSpec &spec_;
    bool help_ = false;
    std::map<std::string, std::string> values_;
    std::map<std::string, std::string> spelled_;  // name -> the spelling the user typed
    std::vector<std::string> positional_;
};

void print_help(const CommandSpec &spec);

// The option name closest to `typed` among spec's names and aliases, or "" if none is close.
std::string nearest_option(const CommandSpec &spec, const std::string &typed);

} // namespace cli
