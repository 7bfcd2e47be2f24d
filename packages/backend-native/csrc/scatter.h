// ScatterNd's sum: out[flat(index_i)] += updates_i, one slice at a time in update order, so the
// float32 sums are the cpu kernel's bit for bit (the embedding and gather gradients use it).
#pragma once
#include <cstdint>

namespace attnkit {

/**
 * out [slices, sliceSize] (zeroed here), indices [numUpdates, sliceRank], updates
 * [numUpdates, sliceSize]; flat index Σ_j indices[i, j] · strides[j]. Returns -1, or the first
 * update whose flat index is outside [0, slices) (out is then incomplete).
 */
int64_t scatter_add(const int32_t* indices, const float* updates, float* out, int64_t numUpdates,
                    int64_t sliceRank, int64_t sliceSize, const int32_t* strides, int64_t slices);

}  // namespace attnkit
