// GPTQ of one layer (docs/gptq-reference.md §2 preparation, §3 blocked column loop), written once for every
// backend: the driver makes each decision of the algorithm and drives the backend's
// GptqSession primitives (core/gptq_session.h) in the order the reference computes them.
#pragma once

#include "core/backend.h"
#include "core/gptq_session.h"

namespace gptq {

// Runs GPTQ on the session's layer [n x k] and fills every field of out.
// Throws Error(GPTQ_ERR_NOT_POSITIVE_DEFINITE) when damping up to opt.damp_max does not
// make the factorisation succeed, and whatever opt.report_progress throws.
void run_gptq(GptqSession &session, const QuantOptions &opt, int64_t n, int64_t k,
              QuantResult *out);

} // namespace gptq
