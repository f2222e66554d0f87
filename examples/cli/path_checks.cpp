#include "path_checks.h"

#include "error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cli {

using llama::fail;

namespace {

// "a/b/" -> "a/b"; "/" stays "/".
std::string without_trailing_slashes(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
}

std::string parent_of(const std::string &path) {
    const std::string p = without_trailing_slashes(path);
    const size_t slash = p.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : p.substr(0, slash);
}

// Creates and removes a scratch file in dir: the only test that holds for root, ACLs and
// read-only mounts alike.
void require_creatable_in(const std::string &dir, const std::string &path, const char *option) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0)
        fail(GPTQ_ERR_IO, "%s %s: directory %s %s", option, path.c_str(), dir.c_str(),
             errno == ENOENT ? "does not exist" : std::strerror(errno));
    if (!S_ISDIR(st.st_mode))
        fail(GPTQ_ERR_IO, "%s %s: %s is not a directory", option, path.c_str(), dir.c_str());
    std::string probe = dir + "/.gptq-write-probe-XXXXXX";
    const int fd = ::mkstemp(&probe[0]);
    if (fd < 0)
        fail(GPTQ_ERR_IO, "%s %s: cannot create files in %s: %s", option, path.c_str(),
             dir.c_str(), std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
}

} // namespace

void require_input_file(const std::string &path, const char *option) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
        fail(GPTQ_ERR_IO, "%s %s: %s", option, path.c_str(),
             errno == ENOENT ? "no such file" : std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        fail(GPTQ_ERR_IO, "%s %s: is a directory; expected a file", option, path.c_str());
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(GPTQ_ERR_IO, "%s %s: cannot be read: %s", option, path.c_str(), std::strerror(errno));
    ::close(fd);
}

void require_input_file_or_dir(const std::string &path, const char *option) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    require_input_file(path, option);
}

void require_output_dir(const std::string &path, const char *option) {
    if (path.empty()) fail(GPTQ_ERR_INVALID_ARGUMENT, "%s: empty path", option);
    struct stat st;
    const std::string p = without_trailing_slashes(path);
    if (::stat(p.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            fail(GPTQ_ERR_IO, "%s %s: exists and is not a directory", option, path.c_str());
        require_creatable_in(p, path, option);
    } else if (errno != ENOENT && errno != ENOTDIR) {  // ENOTDIR: the parent check says which
        fail(GPTQ_ERR_IO, "%s %s: %s", option, path.c_str(), std::strerror(errno));
    }
    require_creatable_in(parent_of(p), path, option);
}

void require_output_file(const std::string &path, const char *option) {
    if (path.empty()) fail(GPTQ_ERR_INVALID_ARGUMENT, "%s: empty path", option);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        fail(GPTQ_ERR_IO, "%s %s: is a directory; expected a file name", option, path.c_str());
    if (path.back() == '/')
        fail(GPTQ_ERR_IO, "%s %s: expected a file name, not a directory", option, path.c_str());
    require_creatable_in(parent_of(path), path, option);
}

} // namespace cli
