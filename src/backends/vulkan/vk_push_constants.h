// C++ view of the push-constant blocks defined once in shaders/push_constants.glsl; the
// shared file static_asserts each block's size.
#pragma once

#include <cstdint>

namespace gptq::vk {
#include "push_constants.glsl"
} // namespace gptq::vk
