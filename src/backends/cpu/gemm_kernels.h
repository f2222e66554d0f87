// The register-blocked micro-kernels behind sgemm (gemm.cpp), one per instruction set, chosen
// once at run time so the library itself is built for the baseline ISA.
#pragma once

#include <cstdint>

namespace gptq::cpu {

// How a kernel merges its tile T = sum_p A[:, p] B[p, :] into C.
enum class TileMerge { Store, Add, Scale };  // alpha T | C + alpha T | alpha T + beta C

// C[mr x nr] (row stride ldc) <- merge(alpha * T) for T = sum over kc of a packed A strip
// (ap[p * mr + r]) times a B strip (bp[p * ldb + j]: packed with ldb = nr, or read in place
// from a row-major B), summed in p order in fp32.
using GemmKernelFn = void (*)(int64_t kc, const float *ap, const float *bp, int64_t ldb,
                              float *c, int64_t ldc, float alpha, float beta, TileMerge merge);

struct GemmKernel {
    GemmKernelFn fn;
    int64_t mr, nr;    // tile shape (packed strip widths)
    const char *name;  // "avx512", "avx2+fma", "generic"
};

// The fastest kernel this CPU runs (generic only when built with GPTQ_CPU_GENERIC_ONLY or
// off x86).
const GemmKernel &gemm_kernel();

} // namespace gptq::cpu
