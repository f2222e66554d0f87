// Read-only mapped files and atomic file replacement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llama {

// A whole file mapped read-only. Empty files are allowed (data() is then nullptr).
class MappedFile {
public:
    explicit MappedFile(const std::string &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    const std::string &path() const { return path_; }

private:
    std::string path_;
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

std::string read_text_file(const std::string &path);
bool file_exists(const std::string &path);
bool is_directory(const std::string &path);
int64_t file_size(const std::string &path);
std::string join_path(const std::string &dir, const std::string &name);

// One piece of a file's content; pieces are written in order.
struct Chunk {
    const void *data;
    size_t size;
};

// Writes a temporary file next to `path`, fsyncs it, renames it over `path` and fsyncs the
// directory, so readers see either the old file or the complete new one, never a torn write.
void write_file_atomic(const std::string &path, const std::vector<Chunk> &chunks);

void make_directory(const std::string &path);

// Gives back the pages of [p, p + bytes) inside a read-only file mapping (MADV_DONTNEED):
// they are dropped from the resident set and re-read from the file if touched again.
void release_pages(const void *p, size_t bytes);

} // namespace llama
