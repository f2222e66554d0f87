// Embedded SPIR-V of shaders/*.comp; the table is generated into the build tree by
// shaders/embed_spirv.cmake.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gptq::vk {

struct SpirvBlob {
    const char *name;  // shader file name without .comp
    const uint32_t *words;
    size_t n_words;
};

// nullptr if no shader of that name was built.
const SpirvBlob *find_spirv(const char *name);

} // namespace gptq::vk
