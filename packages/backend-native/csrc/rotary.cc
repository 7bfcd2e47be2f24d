#include "rotary.h"

#include <cmath>
#include <vector>

#include "rows.h"
#include "simd.h"

namespace attnkit {
namespace {

ATTNKIT_CLONES void rotate_half(const float* x, const float* c, const float* s, int64_t half,
                                float* y) {
  const float* b = x + half;
  for (int64_t i = 0; i < half; i++) y[i] = x[i] * c[i] - b[i] * s[i];
  for (int64_t i = 0; i < half; i++) y[half + i] = b[i] * c[i] + x[i] * s[i];
}

void rotate_interleaved(const float* x, const float* c, const float* s, int64_t half, float* y) {
  for (int64_t i = 0; i < half; i++) {
    const float a = x[2 * i], b = x[2 * i + 1];
    y[2 * i] = a * c[i] - b * s[i];
    y[2 * i + 1] = b * c[i] + a * s[i];
  }
}

}  // namespace

void rotary_apply(int64_t bh, int64_t t, int64_t d, int64_t half, bool interleaved,
                  const float* x, const float* positions, const float* freq, float sign,
                  float* y) {
  // cos and sign·sin of every (step, pair): the rows of all heads share them.
  std::vector<float> cs(static_cast<size_t>(2 * t * half));
  for (int64_t i = 0; i < t; i++) {
    for (int64_t j = 0; j < half; j++) {
      const float angle = positions[i] * freq[j];
      cs[2 * i * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      cs[(2 * i + 1) * half + j] = sign * static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  for_row_blocks(bh * t, d, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t step = r % t;
      const float* c = cs.data() + 2 * step * half;
      const float* s = c + half;
      const float* xr = x + r * d;
      float* yr = y + r * d;
      if (interleaved) {
        rotate_interleaved(xr, c, s, half, yr);
      } else {
        rotate_half(xr, c, s, half, yr);
      }
      for (int64_t j = 2 * half; j < d; j++) yr[j] = xr[j];
    }
  });
}

}  // namespace attnkit
