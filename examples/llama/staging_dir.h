// A checkpoint directory built aside and published whole: files are written into a fresh
// OUT.tmp-XXXXXX next to OUT, and one rename makes them visible. An existing OUT is swapped
// out atomically (renameat2 RENAME_EXCHANGE, or rename-aside + rename where the filesystem
// lacks it) and removed only after the new one is in place. Until publish() succeeds, the
// staging directory is removed on destruction (any error) and on SIGINT/SIGTERM.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace llama {

class StagingDir {
public:
    // Creates the staging directory next to out. Refuses an out that is not a directory, or
    // one holding files a checkpoint does not have (replacing it would delete them).
    explicit StagingDir(const std::string &out);
    ~StagingDir();
    StagingDir(const StagingDir &) = delete;
    StagingDir &operator=(const StagingDir &) = delete;

    const std::string &path() const { return tmp_; }
    // The directory the user asked for (what messages name).
    const std::string &out() const { return out_; }
    // Path of a file inside the staging directory; registers it for signal-time cleanup
    // (at most kMaxFiles names per directory).
    std::string file(const std::string &name);
    // fsyncs the directory and publishes it as out.
    void publish();

    static constexpr int kMaxFiles = 512;

private:
    std::string out_, tmp_;
    bool published_ = false;
};

// Test hook: called before every I/O step of checkpoint writing ("create", "write",
// "fsync", "rename", "publish", ...) with a description; a hook that throws makes that step
// fail. Empty in normal runs.
extern std::function<void(const char *step)> checkpoint_io_hook;
void checkpoint_io_step(const char *step);

// Thrown by a checkpoint_io_hook to make the step fail as the system call would, with errno
// `err` (ENOSPC, EIO, ...), so tests see the message a user would.
struct InjectedIoError {
    int err;
};
// checkpoint_io_step for a step whose failure is reported by errno: the errno an
// InjectedIoError carries, else 0 (perform the step).
int checkpoint_io_errno(const char *step);

// True for the names a checkpoint directory holds (model*.safetensors, the index,
// config.json, quantize_config.json, tokenizer*).
bool is_checkpoint_file(const std::string &name);

} // namespace llama
