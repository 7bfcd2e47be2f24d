#include "norm.h"

#include <cmath>
#include <vector>

#include "rows.h"
#include "simd.h"
#include "vec8.h"

namespace attnkit {
namespace {

/**
 * Σ_j term(j) for j < d in double, in eight interleaved partial sums added in a fixed order:
 * one running sum is a chain of dependent adds (~4 cycles each, 1,000 per row at d 256), eight
 * keep the adder busy; the order depends on d alone, so results do not vary between runs.
 */
template <typename Term>
ATTNKIT_INLINE double row_sum(int64_t d, const Term& term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= d; j += 8)
    for (int q = 0; q < 8; q++) acc[q] += term(j + q);
  for (; j < d; j++) acc[j % 8] += term(j);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

ATTNKIT_CLONES float rms_scale(const float* x, int64_t d, float eps) {
  const double ss = row_sum(d, [&](int64_t j) { return static_cast<double>(x[j]) * x[j]; });
  return static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
}

/** Mean and 1/sqrt(var + eps) of one row, in double (two passes: no cancellation). */
ATTNKIT_CLONES void moments(const float* x, int64_t d, float eps, float* mean, float* rstd) {
  const double m = row_sum(d, [&](int64_t j) { return static_cast<double>(x[j]); }) /
                   static_cast<double>(d);
  const double v = row_sum(d, [&](int64_t j) { return (x[j] - m) * (x[j] - m); });
  *mean = static_cast<float>(m);
  *rstd = static_cast<float>(1.0 / std::sqrt(v / static_cast<double>(d) + eps));
}

/** Adds the blocks' partial sums [blocks, d] into out [d], block by block in order. */
void sum_blocks(const std::vector<float>& partial, int64_t blocks, int64_t d, float* out) {
  for (int64_t j = 0; j < d; j++) out[j] = 0.0f;
  for (int64_t b = 0; b < blocks; b++) {
    const float* p = partial.data() + b * d;
    for (int64_t j = 0; j < d; j++) out[j] += p[j];
  }
}

int64_t block_count(int64_t rows, int64_t d) {
  const int64_t size = row_block(rows, d);
  return (rows + size - 1) / size;
}

/** sum = x + res over one row (sum may be x). */
void add_rows(const float* x, const float* res, int64_t d, float* sum) {
  for (int64_t j = 0; j < d; j++) sum[j] = x[j] + res[j];
}

}  // namespace

void rms_norm_forward(int64_t rows, int64_t d, const float* x, const float* w, float eps,
                      float* y, const float* res, float* sum) {
  for_row_blocks(rows, d, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * d;
      if (res) {
        add_rows(xr, res + r * d, d, sum + r * d);
        xr = sum + r * d;
      }
      float* yr = y + r * d;
      const float s = rms_scale(xr, d, eps);
      for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * s * w[j];
    }
  });
}

void rms_norm_backward(int64_t rows, int64_t d, const float* x, const float* w, const float* dy,
                       float eps, float* dx, float* dw, const float* dsum) {
  const int64_t blocks = block_count(rows, d);
  std::vector<float> partial(static_cast<size_t>(std::max<int64_t>(blocks, 1) * d), 0.0f);
  for_row_blocks(rows, d, [&](int64_t b, int64_t r0, int64_t r1) {
    float* pw = partial.data() + b * d;
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * d;
      const float* gr = dy + r * d;
      float* dxr = dx + r * d;
      const float s = rms_scale(xr, d, eps);
      const double dot = row_sum(  // Σ g·x̂
          d, [&](int64_t j) { return static_cast<double>(gr[j]) * w[j] * xr[j] * s; });
      const float c = static_cast<float>(dot / static_cast<double>(d));
      for (int64_t j = 0; j < d; j++) {
        const float xh = xr[j] * s;
        dxr[j] = s * (gr[j] * w[j] - xh * c);
        pw[j] += gr[j] * xh;
      }
      if (dsum) add_rows(dxr, dsum + r * d, d, dxr);
    }
  });
  sum_blocks(partial, blocks, d, dw);
}

void layer_norm_forward(int64_t rows, int64_t d, const float* x, const float* w, const float* b,
                        float eps, float* y, const float* res, float* sum) {
  for_row_blocks(rows, d, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * d;
      if (res) {
        add_rows(xr, res + r * d, d, sum + r * d);
        xr = sum + r * d;
      }
      float* yr = y + r * d;
      float m, s;
      moments(xr, d, eps, &m, &s);
      for (int64_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * s * w[j] + b[j];
    }
  });
}

void layer_norm_backward(int64_t rows, int64_t d, const float* x, const float* w, const float* dy,
                         float eps, float* dx, float* dw, float* db, const float* dsum) {
  const int64_t blocks = block_count(rows, d);
  const size_t n = static_cast<size_t>(std::max<int64_t>(blocks, 1) * d);
  std::vector<float> pw(n, 0.0f), pb(n, 0.0f);
  for_row_blocks(rows, d, [&](int64_t blk, int64_t r0, int64_t r1) {
    float* bw = pw.data() + blk * d;
    float* bb = pb.data() + blk * d;
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * d;
      const float* gr = dy + r * d;
      float* dxr = dx + r * d;
      float m, s;
      moments(xr, d, eps, &m, &s);
      // Σ g, Σ g·x̂ with g = dy·w
      const double sg = row_sum(d, [&](int64_t j) { return static_cast<double>(gr[j]) * w[j]; });
      const double sgx = row_sum(
          d, [&](int64_t j) { return static_cast<double>(gr[j]) * w[j] * ((xr[j] - m) * s); });
      const float mg = static_cast<float>(sg / static_cast<double>(d));
      const float mgx = static_cast<float>(sgx / static_cast<double>(d));
      for (int64_t j = 0; j < d; j++) {
        const float xh = (xr[j] - m) * s;
        dxr[j] = s * (gr[j] * w[j] - mg - xh * mgx);
        bw[j] += gr[j] * xh;
        bb[j] += gr[j];
      }
      if (dsum) add_rows(dxr, dsum + r * d, d, dxr);
    }
  });
  sum_blocks(pw, blocks, d, dw);
  sum_blocks(pb, blocks, d, db);
}

}  // namespace attnkit
