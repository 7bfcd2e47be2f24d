#include "depthwise.h"

#include <algorithm>

#include "rows.h"
#include "simd.h"

namespace attnkit {
namespace {

/** y += a ⊙ x over channels. */
ATTNKIT_CLONES void mul_add(float* ATTNKIT_RESTRICT y, const float* a, const float* x,
                            int64_t n) {
  for (int64_t c = 0; c < n; c++) y[c] += a[c] * x[c];
}

}  // namespace

void depthwise_forward(int64_t batch, int64_t height, int64_t width, int64_t channels,
                       int64_t fh, int64_t fw, const float* x, const float* filter, float* out) {
  const int64_t oh = height - fh + 1, ow = width - fw + 1;
  // One output row (b, y, x) per step; rows in blocks over the pool.
  for_row_blocks(batch * oh * ow, channels * fh * fw, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t b = r / (oh * ow), y = (r / ow) % oh, xo = r % ow;
      float* o = out + r * channels;
      std::fill(o, o + channels, 0.f);
      for (int64_t i = 0; i < fh; i++)
        for (int64_t j = 0; j < fw; j++)
          mul_add(o, filter + (i * fw + j) * channels,
                  x + ((b * height + y + i) * width + xo + j) * channels, channels);
    }
  });
}

}  // namespace attnkit
