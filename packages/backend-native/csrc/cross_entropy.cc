#include "cross_entropy.h"

#include <cmath>

#include "rows.h"
#include "simd.h"

namespace attnkit {
namespace {

ATTNKIT_CLONES float row_max(const float* x, int64_t n) {
  float m = -kInf;
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

ATTNKIT_CLONES float row_sum_exp(const float* x, int64_t n, float shift) {
  float s = 0.0f;
  for (int64_t j = 0; j < n; j++) s += exp_f(x[j] - shift);
  return s;
}

/** log Σ exp(x); -inf for a row of -inf, NaN when a value is NaN. */
float log_sum_exp(const float* x, int64_t n) {
  const float m = row_max(x, n);
  if (m == -kInf || m == kInf) return m;
  for (int64_t j = 0; j < n; j++)
    if (x[j] != x[j]) return x[j];
  return m + std::log(row_sum_exp(x, n, m));
}

ATTNKIT_CLONES void softmax_scaled(const float* x, int64_t n, float lse, float scale, float* out) {
  for (int64_t j = 0; j < n; j++) out[j] = scale * exp_f(x[j] - lse);
}

bool counted(int32_t label, int64_t vocab, int64_t ignore) {
  return label >= 0 && label < vocab && label != ignore;
}

}  // namespace

void cross_entropy_forward(int64_t rows, int64_t vocab, const float* logits,
                           const int32_t* labels, int64_t ignore, float* loss, float* lse) {
  for_row_blocks(rows, vocab, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* x = logits + r * vocab;
      const float l = log_sum_exp(x, vocab);
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
      softmax_scaled(x, vocab, log_sum_exp(x, vocab), dl + dlse[r], d);
      if (on) d[labels[r]] -= dl;
    }
  });
}

}  // namespace attnkit
