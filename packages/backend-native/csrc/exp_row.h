// x[j] = exp(x[j] - shift) over a row, with explicit AVX2 when the CPU has it (the same
// operations as exp_f, so the same bits), because compilers do not always turn exp_f's selects
// into blends inside larger loops.
#pragma once
#include <cstdint>

namespace attnkit {

void exp_row_shifted(float* x, int64_t n, float shift);

/** The same with fused multiply-adds where the CPU has them: faster, not exp_f's exact bits. */
void exp_row_shifted_fast(float* x, int64_t n, float shift);

/** s[j] = 1 / (1 + exp(-x[j])) in one pass (the fast exponential); s may not alias x. */
void sigmoid_row_fast(const float* x, int64_t n, float* s);

}  // namespace attnkit
