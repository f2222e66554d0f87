// The relative output error of core/output_error.h on the CPU backend's thread pool.
#pragma once

#include "core/backend.h"

namespace gptq::cpu {

class ThreadPool;

double relative_output_error(const QLayer &q, const float *w, const HessianState &h,
                             ThreadPool *pool);

} // namespace gptq::cpu
