// A small command-line parser: "--name value", "--name=value", flags, positionals, --help.
#pragma once

#include <map>
#include <string>
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
};

class Args {
public:
    // Throws llama::Error(GPTQ_ERR_INVALID_ARGUMENT) on unknown options or missing values.
    Args(const CommandSpec &spec, int argc, char **argv);

    bool help() const { return help_; }
    bool has(const std::string &name) const { return values_.count(name) != 0; }
    std::string get(const std::string &name) const;
    long long get_int(const std::string &name) const;
    double get_double(const std::string &name) const;
    const std::vector<std::string> &positional() const { return positional_; }

private:
    const CommandSpec &spec_;
    bool help_ = false;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

void print_help(const CommandSpec &spec);

} // namespace cli
