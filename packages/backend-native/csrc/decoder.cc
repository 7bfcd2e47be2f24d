// A decoding step as matrix-vector products over the weights in place (see decoder.h). The
// arithmetic follows the composite tfjs ops it replaces (core's RMSNorm/LayerNorm, Linear,
// MLP/GLU; attention's grouped-query SDPA; positional's rotary), so the fused and unfused
// decodes agree to float rounding.
#include "decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "threadpool.h"

namespace attnkit {
namespace {

// Below this many multiply-adds a product runs on the caller: waking the pool costs more.
constexpr int64_t kParallelWork = INT64_C(1) << 16;
constexpr int kColumnBlock = 64;

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

void dense(const DecoderDense& d, const float* x, float* y) {
  const int64_t work = static_cast<int64_t>(d.in) * d.out;
  const int blocks = (d.out + kColumnBlock - 1) / kColumnBlock;
  if (work < kParallelWork || num_threads() == 1 || blocks == 1) {
    dense_columns(d, x, y, 0, d.out);
    return;
  }
  parallel_for(blocks, [&](int64_t b) {
    const int begin = static_cast<int>(b) * kColumnBlock;
    dense_columns(d, x, y, begin, std::min(d.out, begin + kColumnBlock));
  });
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

/** logits[v] = x · embedding[v] (the tied head: x Eᵀ). */
void tied_head(const DecoderModel& m, const float* x, float* logits) {
  const int d = m.dModel;
  auto rows = [&](int begin, int end) {
    for (int v = begin; v < end; v++)
      logits[v] = dot(x, m.embedding + static_cast<int64_t>(v) * d, d);
  };
  const int blocks = (m.vocab + kColumnBlock - 1) / kColumnBlock;
  if (static_cast<int64_t>(m.vocab) * d < kParallelWork || num_threads() == 1 || blocks == 1) {
    rows(0, m.vocab);
    return;
  }
  parallel_for(blocks, [&](int64_t b) {
    const int begin = static_cast<int>(b) * kColumnBlock;
    rows(begin, std::min(m.vocab, begin + kColumnBlock));
  });
}

/** RMSNorm (Zhang & Sennrich 2019, eq. 4) or LayerNorm (Ba et al. 2016, eq. 4) of x into y. */
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

/** Rotates the first rotaryDim channels of one head at `position` (RoFormer eq. 34). */
void rotate(const DecoderModel& m, float* head, int position) {
  const int half = m.rotaryDim / 2;
  for (int i = 0; i < half; i++) {
    // float32 angle, as tfjs multiplies position by the float32 frequency.
    const float angle = static_cast<float>(position) * m.inverseFrequencies[i];
    const float c = static_cast<float>(std::cos(static_cast<double>(angle)));
    const float s = static_cast<float>(std::sin(static_cast<double>(angle)));
    const int ia = m.ropeLayout == 1 ? i : 2 * i;
    const int ib = m.ropeLayout == 1 ? i + half : 2 * i + 1;
    const float a = head[ia], b = head[ib];
    head[ia] = a * c - b * s;
    head[ib] = b * c + a * s;
  }
}

struct Scratch {
  std::vector<float> normed, q, k, v, heads, out, hidden, gate, scores;
};

/** Self-attention of the token at `position` over the cached keys 0..position; result in s.out. */
void attend(const DecoderModel& m, const DecoderLayer& l, const float* x, int position,
            Scratch& s) {
  const int hd = l.headDim;
  dense(l.q, x, s.q.data());
  dense(l.k, x, s.k.data());
  dense(l.v, x, s.v.data());
  if (m.ropeLayout != 0) {
    for (int h = 0; h < l.heads; h++) rotate(m, s.q.data() + h * hd, position);
    for (int h = 0; h < l.kvHeads; h++) rotate(m, s.k.data() + h * hd, position);
  }
  const int64_t stride = static_cast<int64_t>(m.maxLength) * hd;
  for (int g = 0; g < l.kvHeads; g++) {
    const int64_t row = g * stride + static_cast<int64_t>(position) * hd;
    std::memcpy(l.keys + row, s.k.data() + g * hd, sizeof(float) * hd);
    std::memcpy(l.values + row, s.v.data() + g * hd, sizeof(float) * hd);
  }
  // Query head h reads key/value head h / group (attention's repeatKvHeads).
  const int group = l.heads / l.kvHeads;
  auto visible = [&](int key) {
    if (l.window <= 0) return true;
    return key < l.sinkTokens || position - key < l.window;
  };
  for (int h = 0; h < l.heads; h++) {
    const float* qh = s.q.data() + h * hd;
    const float* keys = l.keys + (h / group) * stride;
    const float* values = l.values + (h / group) * stride;
    float top = -INFINITY;
    for (int j = 0; j <= position; j++) {
      const float logit = visible(j) ? dot(qh, keys + static_cast<int64_t>(j) * hd, hd) * l.scale
                                     : -INFINITY;
      s.scores[j] = logit;
      top = std::max(top, logit);
    }
    float total = 0;
    for (int j = 0; j <= position; j++) {
      s.scores[j] = s.scores[j] == -INFINITY ? 0.0f : std::exp(s.scores[j] - top);
      total += s.scores[j];
    }
    float* oh = s.heads.data() + h * hd;
    std::fill(oh, oh + hd, 0.0f);
    for (int j = 0; j <= position; j++) {
      const float w = s.scores[j] / total;
      if (w == 0) continue;
      const float* vj = values + static_cast<int64_t>(j) * hd;
      for (int c = 0; c < hd; c++) oh[c] += w * vj[c];
    }
  }
  dense(l.o, s.heads.data(), s.out.data());
}

/** Position-wise feed-forward of x; result in s.out. */
void feed_forward(const DecoderLayer& l, const float* x, Scratch& s) {
  dense(l.up, x, s.hidden.data());
  if (l.gated) {
    dense(l.gate, x, s.gate.data());
    for (int i = 0; i < l.up.out; i++) s.hidden[i] *= activate(l.activation, s.gate[i]);
  } else {
    for (int i = 0; i < l.up.out; i++) s.hidden[i] = activate(l.activation, s.hidden[i]);
  }
  dense(l.down, s.hidden.data(), s.out.data());
}

}  // namespace

void decoder_step(const DecoderModel& m, int token, int position, float* logits) {
  const int d = m.dModel;
  thread_local Scratch s;
  size_t widest = d, hidden = 1;
  for (const DecoderLayer& l : m.layers) {
    widest = std::max<size_t>(widest, static_cast<size_t>(l.heads) * l.headDim);
    hidden = std::max<size_t>(hidden, l.up.out);
  }
  for (auto* v : {&s.normed, &s.q, &s.k, &s.v, &s.heads, &s.out}) v->resize(widest);
  s.hidden.resize(hidden);
  s.gate.resize(hidden);
  s.scores.resize(m.maxLength);

  std::vector<float> x(m.embedding + static_cast<int64_t>(token) * d,
                       m.embedding + static_cast<int64_t>(token + 1) * d);
  if (m.positions) {
    const float* p = m.positions + static_cast<int64_t>(position) * d;
    for (int i = 0; i < d; i++) x[i] += p[i];
  }
  for (const DecoderLayer& l : m.layers) {
    if (l.post) {
      attend(m, l, x.data(), position, s);
      for (int i = 0; i < d; i++) x[i] += s.out[i];
      normalize(l.norm1, x.data(), x.data(), d);
      feed_forward(l, x.data(), s);
      for (int i = 0; i < d; i++) x[i] += s.out[i];
      normalize(l.norm2, x.data(), x.data(), d);
    } else {
      normalize(l.norm1, x.data(), s.normed.data(), d);
      attend(m, l, s.normed.data(), position, s);
      for (int i = 0; i < d; i++) x[i] += s.out[i];
      normalize(l.norm2, x.data(), s.normed.data(), d);
      feed_forward(l, s.normed.data(), s);
      for (int i = 0; i < d; i++) x[i] += s.out[i];
    }
  }
  if (!logits) return;
  normalize(m.finalNorm, x.data(), s.normed.data(), d);
  if (m.head) {
    dense(DecoderDense{m.head, nullptr, d, m.vocab}, s.normed.data(), logits);
  } else {
    tied_head(m, s.normed.data(), logits);
  }
}

}  // namespace attnkit
