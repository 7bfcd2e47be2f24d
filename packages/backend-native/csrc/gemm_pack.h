// Packing a row-major block of A into the GEMM's MR-high panels (k-major: out[k · mr + r]).
#pragma once
#include <cstdint>

namespace attnkit {

/**
 * out[k · mr + r] = a[r · rs + k] for r < rows, k < kc: eight columns at a time through an
 * AVX2 8×8 transpose where the CPU has it (one load and one store per 8 floats instead of one
 * each per float), plain loops elsewhere. Rows rows..mr of out are left to the caller.
 */
void pack_rows_transposed(const float* a, int64_t rs, int64_t kc, int mr, int rows, float* out);

}  // namespace attnkit
