// Rotary position embedding (Su et al., RoFormer, eq. 34) on [batch·heads, time, headDim] rows,
// and its gradient, the rotation by the opposite angle.
#pragma once
#include <cstdint>

namespace attnkit {

/**
 * y = x with pair i of each row at position m turned by sign · m·θ_i (angles in float32, as
 * the composite computes them); `interleaved` pairs 2i, 2i+1, otherwise i, i + half. Channels
 * from 2·half on are copied.
 */
void rotary_apply(int64_t bh, int64_t t, int64_t d, int64_t half, bool interleaved,
                  const float* x, const float* positions, const float* freq, float sign,
                  float* y);

}  // namespace attnkit
