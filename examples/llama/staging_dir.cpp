#include "staging_dir.h"

#include "error.h"
#include "file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

extern "C" int renameat2(int, const char *, int, const char *, unsigned) __attribute__((weak));

namespace llama {

std::function<void(const char *)> checkpoint_io_hook;

void checkpoint_io_step(const char *step) {
    if (checkpoint_io_hook) checkpoint_io_hook(step);
}

int checkpoint_io_errno(const char *step) {
    try {
        checkpoint_io_step(step);
    } catch (const InjectedIoError &e) {
        return e.err;
    }
    return 0;
}

namespace {

// What a signal handler may remove: fixed buffers, filled before the handler can run, read
// with async-signal-safe calls only (unlink, rmdir). One staging directory at a time.
constexpr size_t kPathMax = 4096;
char g_dir[kPathMax];
char g_files[StagingDir::kMaxFiles][kPathMax];
volatile sig_atomic_t g_n_files = 0;
volatile sig_atomic_t g_active = 0;
struct sigaction g_old_int, g_old_term;

void cleanup_now() {
    for (int i = 0; i < g_n_files; ++i) ::unlink(g_files[i]);
    ::rmdir(g_dir);
}

extern "C" void on_signal(int sig) {
    if (g_active) cleanup_now();
    // Default action (terminate with the signal) so the exit status tells what happened.
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void copy_path(char *dst, const std::string &src) {
    if (src.size() >= kPathMax) fail(GPTQ_ERR_IO, "%s: path too long", src.c_str());
    std::memcpy(dst, src.c_str(), src.size() + 1);
}

std::vector<std::string> list_dir(const std::string &dir) {
    std::vector<std::string> names;
    DIR *d = ::opendir(dir.c_str());
    if (!d) fail(GPTQ_ERR_IO, "%s: cannot list: %s", dir.c_str(), std::strerror(errno));
    while (const dirent *e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    return names;
}

// Removes a flat directory of checkpoint files (what StagingDir creates or replaces).
void remove_flat_dir(const std::string &dir) {
    for (const std::string &n : list_dir(dir)) ::unlink(join_path(dir, n).c_str());
    ::rmdir(dir.c_str());
}

void fsync_path(const std::string &path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

std::string parent_of(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

bool is_checkpoint_file(const std::string &n) {
    auto starts = [&](const char *p) { return n.rfind(p, 0) == 0; };
    auto ends = [&](const char *s) {
        const size_t l = std::strlen(s);
        return n.size() >= l && n.compare(n.size() - l, l, s) == 0;
    };
    return (starts("model") && ends(".safetensors")) || n == "model.safetensors.index.json" ||
           n == "config.json" || n == "quantize_config.json" || starts("tokenizer") ||
           n == "generation_config.json" || n == "special_tokens_map.json";
}

StagingDir::StagingDir(const std::string &out) : out_(out) {
    while (out_.size() > 1 && out_.back() == '/') out_.pop_back();
    struct stat st;
    if (::stat(out_.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            fail(GPTQ_ERR_IO, "%s exists and is not a directory", out_.c_str());
        for (const std::string &n : list_dir(out_))
            if (!is_checkpoint_file(n))
                fail(GPTQ_ERR_IO,
                     "%s holds '%s', which is not a checkpoint file: refusing to replace the "
                     "directory (choose a new or checkpoint-only output directory)",
                     out_.c_str(), n.c_str());
    }
    if (g_active) fail(GPTQ_ERR_INTERNAL, "only one checkpoint can be staged at a time");
    checkpoint_io_step("create staging directory");
    std::string tmpl = out_ + ".tmp-XXXXXX";
    if (!::mkdtemp(&tmpl[0]))
        fail(GPTQ_ERR_IO, "%s: cannot create the checkpoint's staging directory %s next to it: %s",
             out_.c_str(), tmpl.c_str(), std::strerror(errno));
    tmp_ = tmpl;
    ::chmod(tmp_.c_str(), 0755);
    copy_path(g_dir, tmp_);
    g_n_files = 0;
    g_active = 1;
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &g_old_int);
    ::sigaction(SIGTERM, &sa, &g_old_term);
}

StagingDir::~StagingDir() {
    if (!published_ && !tmp_.empty()) remove_flat_dir(tmp_);
    g_active = 0;
    ::sigaction(SIGINT, &g_old_int, nullptr);
    ::sigaction(SIGTERM, &g_old_term, nullptr);
}

std::string StagingDir::file(const std::string &name) {
    const std::string p = join_path(tmp_, name);
    for (int i = 0; i < g_n_files; ++i)
        if (p == g_files[i]) return p;
    if (g_n_files >= kMaxFiles) fail(GPTQ_ERR_INTERNAL, "too many files in one checkpoint");
    copy_path(g_files[g_n_files], p);
    g_n_files = g_n_files + 1;
    return p;
}

void StagingDir::publish() {
    checkpoint_io_step("fsync staging directory");
    fsync_path(tmp_, O_RDONLY | O_DIRECTORY);
    checkpoint_io_step("publish");
    struct stat st;
    if (::stat(out_.c_str(), &st) != 0) {
        if (::rename(tmp_.c_str(), out_.c_str()) != 0)
            fail(GPTQ_ERR_IO, "%s: cannot rename the finished checkpoint into place: %s",
                 out_.c_str(), std::strerror(errno));
    } else if (renameat2 &&
               renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, out_.c_str(), RENAME_EXCHANGE) == 0) {
        // tmp_ now names the old checkpoint.
    } else {
        // No atomic exchange here: move the old one aside, then the new one in; on failure
        // put the old one back.
        std::string aside = out_ + ".old-XXXXXX";
        if (!::mkdtemp(&aside[0]) || ::rename(out_.c_str(), aside.c_str()) != 0)
            fail(GPTQ_ERR_IO, "%s: cannot move the old checkpoint aside: %s", out_.c_str(),
                 std::strerror(errno));
        try {
            checkpoint_io_step("publish after moving the old checkpoint aside");
            if (::rename(tmp_.c_str(), out_.c_str()) != 0)
                fail(GPTQ_ERR_IO, "%s: cannot rename the finished checkpoint into place: %s",
                     out_.c_str(), std::strerror(errno));
        } catch (...) {
            ::rename(aside.c_str(), out_.c_str());
            throw;
        }
        remove_flat_dir(aside);
        published_ = true;
        fsync_path(parent_of(out_), O_RDONLY | O_DIRECTORY);
        return;
    }
    published_ = true;
    fsync_path(parent_of(out_), O_RDONLY | O_DIRECTORY);
    if (::stat(tmp_.c_str(), &st) == 0) remove_flat_dir(tmp_);  // the old checkpoint
}

} // namespace llama
