// Quality measures reported after quantizing a layer.
#pragma once

#include "core/qlayer.h"

#include <gptq/gptq.h>

namespace gptq {

// tr(D H D^T) / tr(W H W^T), D = W - dequant(q), for the caller's W and the scaled H
// (K x K). Returns 0 when tr(W H W^T) is 0.
double relative_output_error(const gptq_matrix *w, const QLayer &q, const float *h,
                             int n_threads);

} // namespace gptq
