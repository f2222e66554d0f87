// Storage buffers that may be larger than maxStorageBufferRange (a K x K Hessian of
// Llama-3-8B's down_proj is 822 MB; lavapipe and many mobile GPUs bind at most 128 MiB).
// Every quantizer shader is compiled twice: plainly, each buffer bound as a descriptor, and
// with GPTQ_ADDRESSED, each buffer read through its device address (VK_KHR_buffer_device_
// address), which no descriptor range limits. The host picks the addressed build for a
// dispatch when one of its buffers exceeds the range and pushes the address of binding b
// as pc.gptq_addr[b] (push_constants.glsl); the descriptors it still binds are not read.
// Both builds run the same arithmetic, so their results are identical.
//
// A shader declares a buffer with GPTQ_BUFFER(binding, qualifier, Block, type, name) and,
// for the addressed build, maps the name onto the address with
//     #define name GPTQ_AT(Block, binding)
// so its code indexes name[i] in both builds (names must not be used as anything else).
// Include this file first: it may enable extensions.
#ifndef GPTQ_ADDRESSED_GLSL
#define GPTQ_ADDRESSED_GLSL

#ifdef GPTQ_ADDRESSED
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference_uvec2 : require
#define GPTQ_BUFFER(binding_, qual, Block, T, name) \
    layout(buffer_reference, std430, buffer_reference_align = 16) qual buffer Block { T v[]; };
#define GPTQ_AT(Block, binding_) Block(pc.gptq_addr[binding_]).v
#else
#define GPTQ_BUFFER(binding_, qual, Block, T, name) \
    layout(std430, binding = binding_) qual buffer Block { T name[]; };
#endif

#endif
