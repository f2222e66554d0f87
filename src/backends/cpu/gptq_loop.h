// The CPU backend's GPTQ primitives (core/gptq_session.h) on host memory.
#pragma once

#include "backends/cpu/cpu_hessian.h"
#include "core/backend.h"

#include <memory>

namespace gptq::cpu {

class ThreadPool;

// A session on w [n x k] fp32 (overwritten) and h, the scaled Hessian: read only, it is
// the clean copy every damping attempt restarts from (the dead-column fix is applied while
// copying). h_storage, when given, owns the memory h points into.
std::unique_ptr<GptqSession> start_cpu_gptq(const QuantOptions &opt, float *w, int64_t n,
                                            int64_t k, const HessianView &h,
                                            std::vector<float> h_storage, ThreadPool *pool);

} // namespace gptq::cpu
