#include "file_io.h"

#include "error.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace llama {

MappedFile::MappedFile(const std::string &path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(GPTQ_ERR_IO, "%s: cannot open: %s", path.c_str(), std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(GPTQ_ERR_IO, "%s: not a regular file", path.c_str());
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
        void *p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            fail(GPTQ_ERR_IO, "%s: cannot map: %s", path.c_str(), std::strerror(err));
        }
        data_ = static_cast<const uint8_t *>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t *>(data_), size_);
}

std::string read_text_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(GPTQ_ERR_IO, "%s: cannot open: %s", path.c_str(), std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(GPTQ_ERR_IO, "%s: read error", path.c_str());
    return ss.str();
}

bool file_exists(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t file_size(const std::string &path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return -1;
    return int64_t(st.st_size);
}

std::string join_path(const std::string &dir, const std::string &name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

void release_pages(const void *p, size_t bytes) {
    if (!p || bytes == 0) return;
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t b = reinterpret_cast<uintptr_t>(p) / page * page;
    const uintptr_t e = reinterpret_cast<uintptr_t>(p) + bytes;
    ::madvise(reinterpret_cast<void *>(b), e - b, MADV_DONTNEED);
}

void make_directory(const std::string &path) {
    if (is_directory(path)) return;
    if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST)
        fail(GPTQ_ERR_IO, "%s: cannot create directory: %s", path.c_str(), std::strerror(errno));
}

namespace {

std::string parent_dir(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// path: the file being replaced (named in messages rather than its hidden temporary).
void write_all(int fd, const void *data, size_t size, const std::string &path) {
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t w = ::write(fd, p, size);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail(GPTQ_ERR_IO, "%s: cannot write it: %s (the file was left as it was)",
                 path.c_str(), std::strerror(errno));
        }
        p += w;
        size -= size_t(w);
    }
}

} // namespace

void write_file_atomic(const std::string &path, const std::vector<Chunk> &chunks) {
    // mkstemp in the destination directory: rename() is only atomic within one filesystem.
    const std::string dir = parent_dir(path);
    std::string tmpl = join_path(dir, ".gptq-tmp-XXXXXX");
    const int fd = ::mkstemp(&tmpl[0]);
    if (fd < 0)
        fail(GPTQ_ERR_IO, "%s: cannot create temporary file: %s", dir.c_str(), std::strerror(errno));
    try {
        for (const Chunk &c : chunks) write_all(fd, c.data, c.size, path);
        if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0)
            fail(GPTQ_ERR_IO, "%s: cannot write it: fsync failed: %s (the file was left as it was)",
                 path.c_str(), std::strerror(errno));
    } catch (...) {
        ::close(fd);
        ::unlink(tmpl.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmpl.c_str());
        fail(GPTQ_ERR_IO, "%s: cannot write it: close failed: %s (the file was left as it was)",
             path.c_str(), std::strerror(err));
    }
    if (::rename(tmpl.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmpl.c_str());
        fail(GPTQ_ERR_IO, "%s: rename failed: %s", path.c_str(), std::strerror(err));
    }
    // Persist the rename itself.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

} // namespace llama
