#include "scatter.h"

#include <algorithm>

#include "simd.h"

namespace attnkit {
namespace {

ATTNKIT_CLONES void add_row(float* ATTNKIT_RESTRICT y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

}  // namespace

int64_t scatter_add(const int32_t* indices, const float* updates, float* out, int64_t numUpdates,
                    int64_t sliceRank, int64_t sliceSize, const int32_t* strides, int64_t slices) {
  std::fill(out, out + slices * sliceSize, 0.f);
  for (int64_t i = 0; i < numUpdates; i++) {
    int64_t flat = 0;
    for (int64_t j = 0; j < sliceRank; j++)
      flat += static_cast<int64_t>(indices[i * sliceRank + j]) * strides[j];
    if (flat < 0 || flat >= slices) return i;
    add_row(out + flat * sliceSize, updates + i * sliceSize, sliceSize);
  }
  return -1;
}

}  // namespace attnkit
