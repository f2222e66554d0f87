// GPTQ of one layer on the device (spec §2-§3): prepare (row/static parameters, dead
// columns, act-order, damping), inverse factor with damping retries, then the blocked
// column loop as a handful of submits, each recording many blocks.
#pragma once

#include "backends/vulkan/vk_context.h"
#include "core/backend.h"
#include "core/options.h"

namespace gptq::vk {

void quantize_on_device(Context &ctx, const QuantOptions &opt, const float *w, int64_t n,
                        int64_t k, const HessianState &h, QuantResult *out);

// Packs codes [k][n] (natural order) into qweight [packed_len(k, bits)][n] on the device
// (pack_codes.comp). Used by tests and the bench against core/pack.cpp.
void device_pack_rows(Context &ctx, const uint8_t *codes, int64_t k, int64_t n, int bits,
                      int32_t *qweight);

} // namespace gptq::vk
