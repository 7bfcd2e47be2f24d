// The fused decoder's per-row arithmetic (see decoder_ops.h), following the composite tfjs
// ops it replaces (core's Linear, RMSNorm/LayerNorm, activations, MLP/GLU).
#include "decoder_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gemm.h"
#include "threadpool.h"

namespace attnkit {
namespace {

/** Columns [begin, end) of y = x W + b, accumulated row by row (contiguous in W). */
void dense_columns(const DecoderDense& d, const float* x, float* y, int begin, int end) {
  if (d.bias) {
    std::memcpy(y + begin, d.bias + begin, sizeof(float) * (end - begin));
  } else {
    std::fill(y + begin, y + end, 0.0f);
  }
  for (int i = 0; i < d.in; i++) {
    const float xi = x[i];
    const float* row = d.weight + static_cast<int64_t>(i) * d.out;
    for (int j = begin; j < end; j++) y[j] += xi * row[j];
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

float dot(const float* a, const float* b, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

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
  if (f.gated) {
    dense(f.gate, x, gate, rows);
    for (int64_t i = 0; i < n; i++) hidden[i] *= activate(f.activation, gate[i]);
  } else {
    for (int64_t i = 0; i < n; i++) hidden[i] = activate(f.activation, hidden[i]);
  }
  dense(f.down, hidden, out, rows);
}

}  // namespace attnkit
