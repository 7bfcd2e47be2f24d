#include "cross_entropy.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "exp_row.h"
#include "rows.h"
#include "simd.h"

namespace attnkit {
namespace {

ATTNKIT_CLONES float row_max(const float* x, int64_t n) {
  float m = -kInf;
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/** Σ x in eight interleaved partial sums, so the loop vectorises (a fixed order: same bits). */
ATTNKIT_CLONES float row_sum(const float* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int q = 0; q < 8; q++) acc[q] += x[j + q];
  float s = 0.0f;
  for (; j < n; j++) s += x[j];
  for (int q = 0; q < 8; q++) s += acc[q];
  return s;
}

/** log Σ exp(x) with `buf` [n] as scratch; -inf for a row of -inf, NaN when a value is NaN. */
float log_sum_exp(const float* x, int64_t n, float* buf) {
  const float m = row_max(x, n);
  if (m == -kInf) return m;
  std::memcpy(buf, x, static_cast<size_t>(n) * sizeof(float));
  exp_row_shifted(buf, n, m);
  return m + std::log(row_sum(buf, n));
}

ATTNKIT_CLONES void scale_row(float* x, int64_t n, float scale) {
  for (int64_t j = 0; j < n; j++) x[j] *= scale;
}

bool counted(int32_t label, int64_t vocab, int64_t ignore) {
  return label >= 0 && label < vocab && label != ignore;
}

}  // namespace

void cross_entropy_forward(int64_t rows, int64_t vocab, const float* logits,
                           const int32_t* labels, int64_t ignore, float* loss, float* lse) {
  for_row_blocks(rows, vocab, [&](int64_t, int64_t r0, int64_t r1) {
    std::vector<float> buf(static_cast<size_t>(vocab));
    for (int64_t r = r0; r < r1; r++) {
      const float* x = logits + r * vocab;
      const float l = log_sum_exp(x, vocab, buf.data());
      lse[r] = l;
      loss[r] = counted(labels[r], vocab, ignore) ? l - x[labels[r]] : 0.0f;
    }
  });
}

void cross_entropy_backward(int64_t rows, int64_t vocab, const float* logits,
                            const int32_t* labels, int64_t ignore, const float* dloss,
                            const float* dlse, float* dlogits) {
  for_row_blocks(rows, vocab, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* x = logits + r * vocab;
      float* d = dlogits + r * vocab;
      const bool on = counted(labels[r], vocab, ignore);
      const float dl = on ? dloss[r] : 0.0f;
      const float l = log_sum_exp(x, vocab, d);
      std::memcpy(d, x, static_cast<size_t>(vocab) * sizeof(float));
      exp_row_shifted(d, vocab, l);  // softmax
      scale_row(d, vocab, dl + dlse[r]);
      if (on) d[labels[r]] -= dl;
    }
  });
}

}  // namespace attnkit
