#include "core/abi_struct.h"

#include "core/error.h"

namespace gptq {

void fail_struct_size(const char *name, uint32_t size, size_t min_size, size_t current_size) {
    fail(GPTQ_ERR_INVALID_ARGUMENT,
         "%s->struct_size is %u, smaller than the first released layout (%zu bytes; this "
         "library's is %zu): set it to sizeof the struct (the *_init functions do)",
         name, size, min_size, current_size);
}

size_t shared_struct_bytes(const void *p, uint32_t size, size_t min_size, size_t current_size,
                           const char *name) {
    if (size < min_size) fail_struct_size(name, size, min_size, current_size);
    const auto *bytes = static_cast<const unsigned char *>(p);
    for (size_t i = current_size; i < size; ++i)
        if (bytes[i] != 0)
            fail(GPTQ_ERR_INVALID_ARGUMENT,
                 "%s->struct_size is %u, larger than this library's layout (%zu bytes, libgptq "
                 "%s), and byte %zu is set: the application was built against a newer header "
                 "and uses a field this library does not have",
                 name, size, current_size, gptq_version_string(), i);
    return size < current_size ? size : current_size;
}

} // namespace gptq
