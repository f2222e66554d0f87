// GPTQ of one layer on the device (spec §2-§3): prepare (row/static parameters, dead
// columns, act-order, damping), inverse factor with damping retries, then the blocked
// column loop as a handful of submits, each recording many blocks, the last of which also
// packs the codes into the checkpoint qweight (QuantResult::qweight; codes stay empty).
#pragma once

#include "backends/vulkan/vk_context.h"
#include "core/backend.h"
#include "core/options.h"
#include "core/qlayer.h"

namespace gptq::vk {

void quantize_on_device(Context &ctx, const QuantOptions &opt, const float *w, int64_t n,
                        int64_t k, const HessianState &h, QuantResult *out);

// Packs codes [k][n] (natural order) into qweight [packed_len(k, bits)][n] on the device
// (pack_codes.comp). Used by tests and the bench against core/pack.cpp.
void device_pack_rows(Context &ctx, const uint8_t *codes, int64_t k, int64_t n, int bits,
                      int32_t *qweight);

// qzeros [n_groups][packed_len(n, bits)] of q on the device (pack_zeros.comp): each zero
// minus zero_offset, masked to the code width, as Backend::pack_qzeros.
void device_pack_qzeros(Context &ctx, const QLayer &q, int zero_offset, int32_t *qzeros);

} // namespace gptq::vk
