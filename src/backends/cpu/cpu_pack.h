// Packing the GPTQ loop's codes into the checkpoint's qweight on the CPU backend's threads,
// so the layer assembly (core/layer_build.cpp) does not transpose and pack 16 M codes on one
// thread. Same layout as core/pack.h's pack_rows of the transposed codes.
#pragma once

#include <cstdint>
#include <vector>

namespace gptq::cpu {

class ThreadPool;

// codes [n][k] (natural column order, 0..2^bits - 1) -> qweight [packed_len(k, bits)][n].
std::vector<int32_t> pack_qweight(const uint8_t *codes, int64_t n, int64_t k, int bits,
                                  ThreadPool *pool);

} // namespace gptq::cpu
