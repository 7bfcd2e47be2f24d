#include "linear_scan.h"

#include <algorithm>

#include "simd.h"
#include "threadpool.h"

namespace attnkit {
namespace {

constexpr int64_t kLanes = 256;  // channels per task: contiguous rows that vectorise

ATTNKIT_CLONES void scan_block(int64_t t, int64_t channels, int64_t lo, int64_t hi,
                               const float* a, const float* b, const float* h0, float* h,
                               float* last) {
  const float* prev = h0;
  for (int64_t i = 0; i < t; i++) {
    const int64_t o = i * channels;
    for (int64_t c = lo; c < hi; c++) h[o + c] = a[o + c] * prev[c] + b[o + c];
    prev = h + o;
  }
  for (int64_t c = lo; c < hi; c++) last[c] = prev[c];
}

ATTNKIT_CLONES void scan_block_backward(int64_t t, int64_t channels, int64_t lo, int64_t hi,
                                        const float* a, const float* h0, const float* h,
                                        const float* dh, const float* dlast, float* da,
                                        float* db, float* dh0) {
  // db holds δ; δ_{T-1} = dh_{T-1} + dlast.
  for (int64_t i = t - 1; i >= 0; i--) {
    const int64_t o = i * channels;
    if (i == t - 1) {
      for (int64_t c = lo; c < hi; c++) db[o + c] = dh[o + c] + dlast[c];
    } else {
      const int64_t n = o + channels;
      for (int64_t c = lo; c < hi; c++) db[o + c] = dh[o + c] + a[n + c] * db[n + c];
    }
    const float* hp = i == 0 ? h0 : h + o - channels;
    for (int64_t c = lo; c < hi; c++) da[o + c] = db[o + c] * hp[c];
  }
  if (t == 0) {
    for (int64_t c = lo; c < hi; c++) dh0[c] = dlast[c];
  } else {
    for (int64_t c = lo; c < hi; c++) dh0[c] = a[c] * db[c];
  }
}

}  // namespace

void linear_scan_forward(int64_t batch, int64_t t, int64_t channels, const float* a,
                         const float* b, const float* h0, float* h, float* last) {
  const int64_t blocks = (channels + kLanes - 1) / kLanes;
  parallel_for(batch * blocks, [&](int64_t task) {
    const int64_t n = task / blocks, lo = (task % blocks) * kLanes;
    const int64_t hi = std::min(channels, lo + kLanes), o = n * t * channels;
    scan_block(t, channels, lo, hi, a + o, b + o, h0 + n * channels, h + o, last + n * channels);
  });
}

void linear_scan_backward(int64_t batch, int64_t t, int64_t channels, const float* a,
                          const float* h0, const float* h, const float* dh, const float* dlast,
                          float* da, float* db, float* dh0) {
  const int64_t blocks = (channels + kLanes - 1) / kLanes;
  parallel_for(batch * blocks, [&](int64_t task) {
    const int64_t n = task / blocks, lo = (task % blocks) * kLanes;
    const int64_t hi = std::min(channels, lo + kLanes), o = n * t * channels;
    const int64_t so = n * channels;
    scan_block_backward(t, channels, lo, hi, a + o, h0 + so, h + o, dh + o, dlast + so, da + o,
                        db + o, dh0 + so);
  });
}

}  // namespace attnkit
