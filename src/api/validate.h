// Argument checks shared by the C API functions. Each throws gptq::Error with a message
// naming the argument.
#pragma once

#include <gptq/gptq.h>

#include "core/huge_page_allocator.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace gptq {

void require_non_null(const void *p, const char *name);
// A gptq_matrix with valid dtype, positive dims, row_stride >= cols, non-NULL data and a
// total extent that fits in memory arithmetic. Returns the effective row stride.
int64_t check_matrix(const gptq_matrix *m, const char *name);
// Throws GPTQ_ERR_NON_FINITE naming the first NaN/Inf (row, col) of m.
void require_finite(const gptq_matrix *m, const char *name);
void require_finite(const float *p, int64_t count, const char *name);
// Contiguous fp32 copy of m (rows x cols); checks finiteness on the way.
BigVector<float> to_f32(const gptq_matrix *m, const char *name);
// dst must hold at least `needed` elements.
void require_count(size_t count, int64_t needed, const char *name);
// The integer value of an enum field as the caller stored it: C callers may store any int,
// and loading an out-of-range value as the C++ enum type would be undefined behaviour.
template <class E> int enum_value(const E &field) {
    static_assert(sizeof(E) == sizeof(int), "C enums are int-sized here");
    int v;
    std::memcpy(&v, &field, sizeof v);
    return v;
}

float element_f32(const void *data, gptq_dtype dtype, int64_t index);

// Sums over the rows of x, in double: the largest |x|, sum of each row's max x^2 (a bound on
// every entry of x^T x), and sum of all x^2 (the trace of x^T x).
struct SquareSums {
    double max_abs = 0.0, max_bound = 0.0, trace = 0.0;
};
// One pass over x (after check_matrix): fails with GPTQ_ERR_NON_FINITE naming the first
// Inf/NaN, else returns the sums. `trace` is summed in eight lanes, so its last bits are not
// those of a sequential sum (it only chooses a power-of-4 rescale).
SquareSums square_sums(const gptq_matrix *x, const char *name);

} // namespace gptq
