// Checks of the paths a command reads and writes, done before any expensive work so a typo
// costs nothing: inputs must be readable regular files, outputs must be creatable.
#pragma once

#include <string>

namespace cli {

// `path` (given as `option`, e.g. "--calib") is an existing, readable regular file; a
// directory, a missing file or an unreadable one is refused with a sentence saying which.
void require_input_file(const std::string &path, const char *option);

// `path` is an existing directory or a readable regular file (--tokenizer DIR|FILE).
void require_input_file_or_dir(const std::string &path, const char *option);

// A directory that the command will create or replace (-o OUT): OUT is a directory or does
// not exist yet, and its parent directory exists and accepts new entries (probed by
// creating and removing a file, which also works for root and read-only mounts).
void require_output_dir(const std::string &path, const char *option);

// A file the command will create or replace (--heatmap FILE): not a directory, and its
// directory accepts new files.
void require_output_file(const std::string &path, const char *option);

} // namespace cli
