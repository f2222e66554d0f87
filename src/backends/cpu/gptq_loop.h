// GPTQ on one layer (spec §2 preparation and §3 blocked column loop) for the CPU backend.
#pragma once

#include "backends/cpu/cpu_hessian.h"
#include "core/backend.h"

namespace gptq::cpu {

class ThreadPool;

// w [n x k] fp32 (overwritten), h the scaled Hessian (read only: it is the clean copy every
// damping attempt restarts from; the dead-column fix is applied while copying). Fills every
// field of out.
// Throws Error(GPTQ_ERR_NOT_POSITIVE_DEFINITE) when damping up to opt.damp_max does not
// make the factorisation succeed, and whatever opt.report_progress throws.
void gptq_quantize(const QuantOptions &opt, float *w, int64_t n, int64_t k, const HessianView &h,
                   ThreadPool *pool, QuantResult *out);

} // namespace gptq::cpu
