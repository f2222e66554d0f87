// llama2.c -> Hugging Face layout. llama2.c applies RoPE to adjacent pairs (x[2i], x[2i+1])
// of each head; HF Llama to (x[i], x[i + head_dim/2]). Reordering the rows of wq and wk so
// that row 2i+t of a head becomes row t*head_dim/2 + i (the permutation the official
// conversion script applies) makes the rotate-halves model compute exactly the same
// attention scores: q.k is a sum over pairs, and each pair is rotated by the same angle.
#pragma once

#include "model.h"

namespace llama {

// rows [n_heads*head_dim x cols], permuted in place.
void permute_interleaved_to_halves(float *w, int64_t n_heads, int64_t head_dim, int64_t cols);

// Permutes wq/wk and switches cfg.rope to Halves. No-op for models already in HF layout.
// The q/k layers must still be fp32.
void to_hf_layout(Model &m);

} // namespace llama
