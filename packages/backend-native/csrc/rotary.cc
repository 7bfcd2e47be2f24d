#include "rotary.h"

#include <algorithm>
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


/** Rotates rows [r0, r1) of the output: `source(r)` is the input row, `step(r)` its time step. */
template <typename Source, typename Step>
void rotate_rows(int64_t rows, int64_t d, int64_t half, bool interleaved, const float* x,
                 const std::vector<float>& cs, float* y, Source source, Step step) {
  for_row_blocks(rows, d, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* c = cs.data() + 2 * step(r) * half;
      const float* s = c + half;
      const float* xr = x + source(r) * d;
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

/** cos and sign·sin of every (step, pair): the rows of all heads share them. */
std::vector<float> compute_angles(int64_t t, int64_t half, const float* positions,
                                  const float* freq, float sign) {
  std::vector<float> cs(static_cast<size_t>(2 * t * half));
  for (int64_t i = 0; i < t; i++) {
    for (int64_t j = 0; j < half; j++) {
      const float angle = positions[i] * freq[j];
      cs[2 * i * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      cs[(2 * i + 1) * half + j] = sign * static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  return cs;
}

/**
 * The table for these positions, frequencies and sign: the last one this thread computed when
 * they are the same values (q and k, and every layer, rotate by the same angles), else a new one.
 */
const std::vector<float>& angles(int64_t t, int64_t half, const float* positions,
                                 const float* freq, float sign) {
  thread_local std::vector<float> lastPositions, lastFreq, table;
  thread_local float lastSign = 0.0f;
  const bool same = lastSign == sign && lastPositions.size() == static_cast<size_t>(t) &&
                    lastFreq.size() == static_cast<size_t>(half) &&
                    std::equal(positions, positions + t, lastPositions.begin()) &&
                    std::equal(freq, freq + half, lastFreq.begin());
  if (!same) {
    table = compute_angles(t, half, positions, freq, sign);
    lastPositions.assign(positions, positions + t);
    lastFreq.assign(freq, freq + half);
    lastSign = sign;
  }
  return table;
}

}  // namespace

void rotary_heads(int64_t batch, int64_t heads, int64_t t, int64_t d, int64_t half,
                  bool interleaved, HeadsMove move, const float* x, const float* positions,
                  const float* freq, float sign, float* y) {
  const std::vector<float>& cs = angles(t, half, positions, freq, sign);
  const int64_t rows = batch * heads * t;
  if (move == HeadsMove::Split) {
    // Output row (b, h, i) reads input row (b, i, h).
    rotate_rows(rows, d, half, interleaved, x, cs, y,
                [=](int64_t r) { return (r / (heads * t) * t + r % t) * heads + r / t % heads; },
                [=](int64_t r) { return r % t; });
  } else {
    // Output row (b, i, h) reads input row (b, h, i).
    rotate_rows(rows, d, half, interleaved, x, cs, y,
                [=](int64_t r) { return (r / (t * heads) * heads + r % heads) * t + r / heads % t; },
                [=](int64_t r) { return r / heads % t; });
  }
}

void rotary_apply(int64_t bh, int64_t t, int64_t d, int64_t half, bool interleaved,
                  const float* x, const float* positions, const float* freq, float sign,
                  float* y) {
  const std::vector<float>& cs = angles(t, half, positions, freq, sign);
  rotate_rows(bh * t, d, half, interleaved, x, cs, y, [](int64_t r) { return r; },
              [=](int64_t r) { return r % t; });
}

}  // namespace attnkit
