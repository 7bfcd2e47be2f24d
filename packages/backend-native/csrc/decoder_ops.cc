// The fused decoder's per-row arithmetic (see decoder_ops.h), following the composite tfjs
// ops it replaces (core's Linear, RMSNorm/LayerNorm, activations, MLP/GLU).
#include "decoder_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "exp_row.h"
#include "gemm.h"
#include "simd.h"
#include "threadpool.h"
#include "vec8.h"

namespace attnkit {
namespace {

/**
 * y[0, V·8) = bias (or 0) + Σ_i x_i W[i] for V·8 columns of W (row stride `stride`): the sums
 * stay in registers over the i loop; the same adds in the same order as a scalar loop.
 */
template <int V>
ATTNKIT_INLINE void dense_tile(const float* x, int in, const float* w, int64_t stride,
                               const float* bias, float* y) {
  f32x8 acc[V];
  for (int c = 0; c < V; c++) acc[c] = bias ? load8(bias + 8 * c) : zero8();
  for (int i = 0; i < in; i++) {
    const float* row = w + i * stride;
    for (int c = 0; c < V; c++) acc[c] += x[i] * load8(row + 8 * c);
  }
  for (int c = 0; c < V; c++) store8(y + 8 * c, acc[c]);
}

/** Columns [begin, end) of y = x W + b: 64-column tiles, then 8, then one at a time. */
ATTNKIT_CLONES void dense_columns(const DecoderDense& d, const float* x, float* y, int begin,
                                  int end) {
  const int64_t stride = d.out;
  const float* bias = d.bias;
  int j = begin;
  for (; j + 64 <= end; j += 64)
    dense_tile<8>(x, d.in, d.weight + j, stride, bias ? bias + j : nullptr, y + j);
  for (; j + 8 <= end; j += 8)
    dense_tile<1>(x, d.in, d.weight + j, stride, bias ? bias + j : nullptr, y + j);
  for (; j < end; j++) {
    float sum = bias ? bias[j] : 0.0f;
    for (int i = 0; i < d.in; i++) sum += x[i] * d.weight[i * stride + j];
    y[j] = sum;
  }
}

}  // namespace

void dense_row(const DecoderDense& d, const float* x, float* y) {
  const int64_t work = static_cast<int64_t>(d.in) * d.out;
  const int blocks = (d.out + kDecoderColumnBlock - 1) / kDecoderColumnBlock;
  if (work < kDecoderParallelWork || num_threads() == 1 || blocks == 1) {
    dense_columns(d, x, y, 0, d.out);
    return;
  }
  parallel_for(blocks, [&](int64_t b) {
    const int begin = static_cast<int>(b) * kDecoderColumnBlock;
    dense_columns(d, x, y, begin, std::min(d.out, begin + kDecoderColumnBlock));
  });
}

void dense(const DecoderDense& d, const float* x, float* y, int rows) {
  if (rows == 1) {
    dense_row(d, x, y);
    return;
  }
  const Operand a{x, d.in, 1};
  const Operand w{d.weight, d.out, 1};
  gemm_batched(1, rows, d.out, d.in, a, 0, nullptr, w, 0, nullptr, y);
  if (!d.bias) return;
  for (int r = 0; r < rows; r++) {
    float* yr = y + static_cast<int64_t>(r) * d.out;
    for (int j = 0; j < d.out; j++) yr[j] += d.bias[j];
  }
}

float dot(const float* a, const float* b, int n) { return dot_f32(a, b, n); }

void normalize(const DecoderNorm& n, const float* x, float* y, int d) {
  float mean = 0;
  if (n.kind == kNormLayer) {
    double sum = 0;
    for (int i = 0; i < d; i++) sum += x[i];
    mean = static_cast<float>(sum / d);
  }
  double squares = 0;
  for (int i = 0; i < d; i++) {
    const double c = static_cast<double>(x[i]) - mean;
    squares += c * c;
  }
  const float inv = 1.0f / std::sqrt(static_cast<float>(squares / d) + n.eps);
  for (int i = 0; i < d; i++) {
    float v = (x[i] - mean) * inv;
    if (n.weight) v *= n.weight[i];
    if (n.bias) v += n.bias[i];
    y[i] = v;
  }
}

float activate(int act, float x) {
  switch (act) {
    case kActGelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case kActGeluTanh: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case kActSilu:
      return x / (1.0f + std::exp(-x));
    case kActRelu:
      return x > 0 ? x : 0.0f;
    case kActRelu2:
      return x > 0 ? x * x : 0.0f;
    case kActSigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case kActTanh:
      return std::tanh(x);
    default:
      return x;
  }
}

void feed_forward(const DecoderFeedForward& f, const float* x, int rows, float* hidden,
                  float* gate, float* out) {
  const int64_t n = static_cast<int64_t>(rows) * f.up.out;
  dense(f.up, x, hidden, rows);
  if (f.gated && f.activation == kActSilu) {
    // silu(g) = g · σ(g): the vectorised sigmoid of the whole row at once.
    dense(f.gate, x, gate, rows);
    thread_local std::vector<float> sigma;
    sigma.resize(static_cast<size_t>(n));
    sigmoid_row_fast(gate, n, sigma.data());
    for (int64_t i = 0; i < n; i++) hidden[i] *= gate[i] * sigma[i];
  } else if (f.gated) {
    dense(f.gate, x, gate, rows);
    for (int64_t i = 0; i < n; i++) hidden[i] *= activate(f.activation, gate[i]);
  } else {
    for (int64_t i = 0; i < n; i++) hidden[i] = activate(f.activation, hidden[i]);
  }
  dense(f.down, hidden, out, rows);
}

}  // namespace attnkit
