// TopK along the last axis: the k largest values of each row, best first, ties to the lower
// index (tfjs' order). The sparse mixers select keys with it every step.
#pragma once
#include <cstdint>

namespace attnkit {

/**
 * x [rows, n] -> values, indices [rows, k] (k <= n). Returns false, writing nothing useful, when
 * x holds a NaN or an infinity: tfjs orders those by subtraction, which this does not copy.
 */
bool top_k(const float* x, int64_t rows, int64_t n, int64_t k, float* values, int32_t* indices);

}  // namespace attnkit
