// Memory of a whole-model quantization: an estimate of the peak before it starts (what
// streaming keeps resident at once) and the measured peak resident set size.
#pragma once

#include "model.h"

#include <cstdint>

namespace llama {

// Largest resident set expected while streaming-quantizing m with `tokens` calibration tokens
// in sequences of `seq_len`: embedding (+ lm_head) in fp32, the calibration activations
// (inputs of the current block and a working copy), one block's weights in their stored dtype
// plus its dense copies, the largest layer in fp32, the largest Hessian twice (accumulator and
// the copy read for the error metric), and one sequence's intermediate products.
uint64_t estimate_peak_bytes(const Model &m, int64_t tokens, int64_t seq_len);

// Peak resident set size of this process so far (getrusage), in bytes.
uint64_t peak_rss_bytes();

} // namespace llama
