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

/** How rotary_heads moves rows between the two layouts of `heads` heads. */
enum class HeadsMove { Split, Merge };

/**
 * As rotary_apply (half may be 0: no rotation), moving each row between [batch, t, heads, d]
 * (a projection's [batch, t, heads·d]) and [batch, heads, t, d]: Split reads the first layout
 * and writes the second, Merge the reverse. One pass instead of a transpose and a rotation.
 */
void rotary_heads(int64_t batch, int64_t heads, int64_t t, int64_t d, int64_t half,
                  bool interleaved, HeadsMove move, const float* x, const float* positions,
                  const float* freq, float sign, float* y);

}  // namespace attnkit
