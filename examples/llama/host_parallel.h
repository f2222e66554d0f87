// Splitting host-side loops of the forward pass (attention, norms, SwiGLU) over the cores.
// The GEMMs run in libgptq; what stays here is cheap per element, so one fork/join per call
// on fresh std::threads costs little next to it, and small calls stay on the calling thread.
#pragma once

#include <cstdint>
#include <functional>

namespace llama {

// Threads the host loops use: hardware_concurrency, or GPTQ_HOST_THREADS if set (>= 1).
int host_threads();

// Runs fn(begin, end) over contiguous slices of [0, n) on up to host_threads() threads.
// `work` estimates the flops of the whole loop: below ~1e5 it runs serially.
void parallel_ranges(int64_t n, double work, const std::function<void(int64_t, int64_t)> &fn);

// sum_i a[i] * b[i] with eight independent partial sums (vectorisable without fast-math).
float dot(const float *a, const float *b, int64_t n);

} // namespace llama
