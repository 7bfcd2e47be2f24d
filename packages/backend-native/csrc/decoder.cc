// A decoding step as matrix-vector products over the weights in place (see decoder.h). The
// arithmetic follows the composite tfjs ops it replaces (core's RMSNorm/LayerNorm, Linear,
// MLP/GLU; attention's grouped-query SDPA; positional's rotary), so the fused and unfused
// decodes agree to float rounding.
#include "decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gemm.h"
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

/** y[1, out] = x[1, in] W + b as a matrix-vector product. */
void dense_row(const DecoderDense& d, const float* x, float* y) {
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

/** y[rows, out] = x[rows, in] W + b: one row as a matrix-vector product, more through the GEMM. */
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

/**
 * Causal self-attention of `rows` tokens at positions first, first + 1, ... over the cached
 * keys (theirs appended first); result [rows, dModel] in s.out.
 */
void attend(const DecoderModel& m, const DecoderLayer& l, const float* x, int first, int rows,
            Scratch& s) {
  const int hd = l.headDim;
  const int qWidth = l.heads * hd, kvWidth = l.kvHeads * hd;
  dense(l.q, x, s.q.data(), rows);
  dense(l.k, x, s.k.data(), rows);
  dense(l.v, x, s.v.data(), rows);
  const int64_t stride = static_cast<int64_t>(m.maxLength) * hd;
  for (int r = 0; r < rows; r++) {
    float* q = s.q.data() + static_cast<int64_t>(r) * qWidth;
    float* k = s.k.data() + static_cast<int64_t>(r) * kvWidth;
    const float* v = s.v.data() + static_cast<int64_t>(r) * kvWidth;
    if (m.ropeLayout != 0) {
      for (int h = 0; h < l.heads; h++) rotate(m, q + h * hd, first + r);
      for (int h = 0; h < l.kvHeads; h++) rotate(m, k + h * hd, first + r);
    }
    for (int g = 0; g < l.kvHeads; g++) {
      const int64_t row = g * stride + static_cast<int64_t>(first + r) * hd;
      std::memcpy(l.keys + row, k + g * hd, sizeof(float) * hd);
      std::memcpy(l.values + row, v + g * hd, sizeof(float) * hd);
    }
  }
  // Query head h reads key/value head h / group (attention's repeatKvHeads).
  const int group = l.heads / l.kvHeads;
  for (int r = 0; r < rows; r++) {
    const int position = first + r;
    auto visible = [&](int key) {
      return l.window <= 0 || key < l.sinkTokens || position - key < l.window;
    };
    for (int h = 0; h < l.heads; h++) {
      const float* qh = s.q.data() + static_cast<int64_t>(r) * qWidth + h * hd;
      const float* keys = l.keys + (h / group) * stride;
      const float* values = l.values + (h / group) * stride;
      float top = -INFINITY;
      for (int j = 0; j <= position; j++) {
        const float logit =
            visible(j) ? dot(qh, keys + static_cast<int64_t>(j) * hd, hd) * l.scale : -INFINITY;
        s.scores[j] = logit;
        top = std::max(top, logit);
      }
      float total = 0;
      for (int j = 0; j <= position; j++) {
        s.scores[j] = s.scores[j] == -INFINITY ? 0.0f : std::exp(s.scores[j] - top);
        total += s.scores[j];
      }
      float* oh = s.heads.data() + static_cast<int64_t>(r) * qWidth + h * hd;
      std::fill(oh, oh + hd, 0.0f);
      for (int j = 0; j <= position; j++) {
        const float w = s.scores[j] / total;
        if (w == 0) continue;
        const float* vj = values + static_cast<int64_t>(j) * hd;
        for (int c = 0; c < hd; c++) oh[c] += w * vj[c];
      }
    }
  }
  dense(l.o, s.heads.data(), s.out.data(), rows);
}

/** Position-wise feed-forward of x [rows, dModel]; result in s.out. */
void feed_forward(const DecoderLayer& l, const float* x, int rows, Scratch& s) {
  const int64_t n = static_cast<int64_t>(rows) * l.up.out;
  dense(l.up, x, s.hidden.data(), rows);
  if (l.gated) {
    dense(l.gate, x, s.gate.data(), rows);
    for (int64_t i = 0; i < n; i++) s.hidden[i] *= activate(l.activation, s.gate[i]);
  } else {
    for (int64_t i = 0; i < n; i++) s.hidden[i] = activate(l.activation, s.hidden[i]);
  }
  dense(l.down, s.hidden.data(), s.out.data(), rows);
}

}  // namespace

void decoder_run(const DecoderModel& m, const int32_t* tokens, int rows, int first,
                 float* logits) {
  const int d = m.dModel;
  thread_local Scratch s;
  size_t widest = d, hidden = 1;
  for (const DecoderLayer& l : m.layers) {
    widest = std::max<size_t>(widest, static_cast<size_t>(l.heads) * l.headDim);
    hidden = std::max<size_t>(hidden, l.up.out);
  }
  const size_t n = static_cast<size_t>(rows);
  for (auto* v : {&s.normed, &s.q, &s.k, &s.v, &s.heads, &s.out}) v->resize(n * widest);
  s.hidden.resize(n * hidden);
  s.gate.resize(n * hidden);
  s.scores.resize(m.maxLength);

  std::vector<float> x(n * d);
  for (int r = 0; r < rows; r++) {
    float* xr = x.data() + static_cast<int64_t>(r) * d;
    std::memcpy(xr, m.embedding + static_cast<int64_t>(tokens[r]) * d, sizeof(float) * d);
    if (!m.positions) continue;
    const float* p = m.positions + static_cast<int64_t>(first + r) * d;
    for (int i = 0; i < d; i++) xr[i] += p[i];
  }
  const int64_t all = static_cast<int64_t>(rows) * d;
  auto norm_rows = [&](const DecoderNorm& norm, const float* in, float* out) {
    for (int r = 0; r < rows; r++)
      normalize(norm, in + static_cast<int64_t>(r) * d, out + static_cast<int64_t>(r) * d, d);
  };
  for (const DecoderLayer& l : m.layers) {
    if (l.post) {
      attend(m, l, x.data(), first, rows, s);
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
      norm_rows(l.norm1, x.data(), x.data());
      feed_forward(l, x.data(), rows, s);
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
      norm_rows(l.norm2, x.data(), x.data());
    } else {
      norm_rows(l.norm1, x.data(), s.normed.data());
      attend(m, l, s.normed.data(), first, rows, s);
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
      norm_rows(l.norm2, x.data(), s.normed.data());
      feed_forward(l, s.normed.data(), rows, s);
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
    }
  }
  if (!logits) return;
  // Only the last token's logits are asked for.
  normalize(m.finalNorm, x.data() + all - d, s.normed.data(), d);
  if (m.head) {
    dense_row(DecoderDense{m.head, nullptr, d, m.vocab}, s.normed.data(), logits);
  } else {
    tied_head(m, s.normed.data(), logits);
  }
}

}  // namespace attnkit
