// The Vulkan backend's GPTQ primitives (core/gptq_session.h): W, H, U, codes and
// parameters stay on the device; the column loop is recorded a few blocks per submit, and
// fetch_result packs the codes into the checkpoint qweight on the device
// (QuantResult::qweight; codes stay empty).
#pragma once

#include "backends/vulkan/vk_context.h"
#include "core/backend.h"
#include "core/options.h"
#include "core/qlayer.h"

#include <memory>

namespace gptq::vk {

std::unique_ptr<GptqSession> start_gptq_on_device(Context &ctx, const QuantOptions &opt,
                                                  const float *w, int64_t n, int64_t k,
                                                  const HessianState &h);

// Packs codes [k][n] (natural order) into qweight [packed_len(k, bits)][n] on the device
// (pack_codes.comp). Used by tests and the bench against core/pack.cpp.
void device_pack_rows(Context &ctx, const uint8_t *codes, int64_t k, int64_t n, int bits,
                      int32_t *qweight);

// qzeros [n_groups][packed_len(n, bits)] of q on the device (pack_zeros.comp): each zero
// minus zero_offset, masked to the code width, as Backend::pack_qzeros.
void device_pack_qzeros(Context &ctx, const QLayer &q, int zero_offset, int32_t *qzeros);

} // namespace gptq::vk
