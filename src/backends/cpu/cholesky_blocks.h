// The unblocked diagonal-block steps of the blocked Cholesky and triangular inverse
// (cholesky.cpp), in double. They run between the parallel panel steps on one thread, so
// they have AVX-512 variants that work on 8 independent rows or columns at once; every
// variant performs exactly the scalar loops' operations (separate multiply and add/subtract:
// this file is compiled with -ffp-contract=off), so results never depend on the CPU.
#pragma once

#include <cstdint>

namespace gptq::cpu {

// Unblocked Cholesky of the b x b block at a (row stride lda, lower triangle read), every
// dot product accumulated in double in column order; the strict upper part is zeroed.
// scratch: b * b doubles. False if a pivot is not positive or not finite.
bool cholesky_block(float *a, int64_t b, int64_t lda, double *scratch);

// Inverse of the lower-triangular b x b block in place (double), strict upper zeroed.
// x: b * b doubles of scratch. False if the inverse is not finite.
bool invert_lower_block(float *a, int64_t b, int64_t lda, double *x);

} // namespace gptq::cpu
