// libFuzzer hands bytes; the readers under test take paths. The bytes go to an anonymous
// in-memory file, opened through /proc/self/fd so no disk or temp-dir cleanup is involved.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

class FuzzInputFile {
public:
    FuzzInputFile(const uint8_t *data, size_t size) {
        fd_ = memfd_create("gptq-fuzz", 0);
        if (fd_ < 0) return;
        size_t done = 0;
        while (done < size) {
            const ssize_t n = write(fd_, data + done, size - done);
            if (n <= 0) break;
            done += size_t(n);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~FuzzInputFile() {
        if (fd_ >= 0) close(fd_);
    }
    FuzzInputFile(const FuzzInputFile &) = delete;
    FuzzInputFile &operator=(const FuzzInputFile &) = delete;

    bool ok() const { return fd_ >= 0; }
    const std::string &path() const { return path_; }

private:
    int fd_ = -1;
    std::string path_;
};
