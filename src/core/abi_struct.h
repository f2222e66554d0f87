// Growable parameter structs (struct_size). An application built against any header from
// 0.1.0 on keeps working: a struct_size from the 0.1.0 layout up to this library's sizeof
// is read field by field, missing trailing fields keeping their defaults; a larger size
// (an application built against a newer header) is accepted when every byte this library
// does not know is zero, i.e. the application did not ask for a feature it lacks.
// When a struct grows, its exported *_init must go on writing only the 0.1.0 layout (old
// binaries pass a buffer of that size); the header then gives new callers an init that is
// told sizeof the caller's struct.
#pragma once

#include <gptq/gptq.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gptq {

// Size of a layout ending with `field`: how the 0.1.0 sizes stay fixed as fields are added.
#define GPTQ_LAYOUT_END(type, field) (offsetof(type, field) + sizeof(((type *)nullptr)->field))

// The first released (0.1.0) layouts.
constexpr size_t kCtxParamsSize010 = GPTQ_LAYOUT_END(gptq_ctx_params, pipeline_cache_size);
constexpr size_t kQuantParamsSize010 = GPTQ_LAYOUT_END(gptq_quant_params, progress_user);
constexpr size_t kQuantReportSize010 = GPTQ_LAYOUT_END(gptq_quant_report, seconds);
constexpr size_t kQlayerInfoSize010 = GPTQ_LAYOUT_END(gptq_qlayer_info, g_idx_len);
constexpr size_t kPackedLayerSize010 = GPTQ_LAYOUT_END(gptq_packed_layer, g_idx);

// Checks a caller's struct of `size` bytes at p (named `name` in messages) against the
// layouts [min_size, current_size] and returns how many leading bytes both sides share.
// Throws GPTQ_ERR_INVALID_ARGUMENT when size is below the 0.1.0 layout or a byte beyond
// current_size is set.
// Throws GPTQ_ERR_INVALID_ARGUMENT: `name`'s struct_size is below the 0.1.0 layout.
[[noreturn]] void fail_struct_size(const char *name, uint32_t size, size_t min_size,
                                   size_t current_size);

size_t shared_struct_bytes(const void *p, uint32_t size, size_t min_size, size_t current_size,
                           const char *name);

// *out (holding the defaults) takes the fields the caller's *in has.
template <class T>
void read_sized(const T *in, size_t min_size, const char *name, T *out) {
    const size_t n = shared_struct_bytes(in, in->struct_size, min_size, sizeof(T), name);
    std::memcpy(static_cast<void *>(out), in, n);
    out->struct_size = uint32_t(sizeof(T));
}

// The caller's *out receives the fields of `full` its layout has; struct_size is kept.
template <class T>
void write_sized(const T &full, size_t min_size, const char *name, T *out) {
    const uint32_t size = out->struct_size;
    const size_t n = shared_struct_bytes(out, size, min_size, sizeof(T), name);
    std::memcpy(static_cast<void *>(out), &full, n);
    out->struct_size = size;
}

// An output struct (report, layer info): struct_size 0 means "this header's size" and is
// set to it; otherwise the caller's leading bytes that both layouts know are filled and
// its trailing bytes (a newer header's fields) left alone. A required output below the
// 0.1.0 layout is refused; an optional one (the quantization report) never fails the call
// it reports on and gets the bytes that fit.
template <class T>
void write_output(const T &full, size_t min_size, const char *name, T *out, bool optional) {
    const uint32_t declared = out->struct_size;
    const size_t size = declared == 0 ? sizeof(T) : size_t(declared);
    if (!optional && size < min_size)
        fail_struct_size(name, declared, min_size, sizeof(T));
    const size_t n = size < sizeof(T) ? size : sizeof(T);
    std::memcpy(static_cast<void *>(out), &full, n);
    out->struct_size = declared == 0 ? uint32_t(sizeof(T)) : declared;
}

} // namespace gptq
