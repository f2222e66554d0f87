// Default implementations of the Backend interface's optional operations.
#include "core/backend.h"

#include "core/pack.h"

namespace gptq {

void Backend::pack_qzeros(const QLayer &q, int zero_offset, int32_t *dst) {
    const uint32_t mask = (1u << q.bits) - 1u;
    std::vector<uint8_t> z(q.zeros.size());
    for (size_t i = 0; i < z.size(); ++i) z[i] = uint8_t(uint32_t(q.zeros[i] - zero_offset) & mask);
    pack_cols(z.data(), q.n_groups, q.n, q.bits, dst);
}

} // namespace gptq
