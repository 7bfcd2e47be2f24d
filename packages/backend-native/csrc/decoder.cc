// A decoding step as matrix-vector products over the weights in place (see decoder.h). The
// arithmetic follows the composite tfjs ops it replaces (attention's grouped-query SDPA,
// positional's rotary; the rest in decoder_ops.cc and decoder_moe.cc), so the fused and
// unfused decodes agree to float rounding.
#include "decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "decoder_ops.h"
#include "gemm.h"
#include "threadpool.h"

namespace attnkit {
namespace {

/** logits[v] = x · embedding[v] (the tied head: x Eᵀ). */
void tied_head(const DecoderModel& m, const float* x, float* logits) {
  const int d = m.dModel;
  auto rows = [&](int begin, int end) {
    for (int v = begin; v < end; v++)
      logits[v] = dot(x, m.embedding + static_cast<int64_t>(v) * d, d);
  };
  const int blocks = (m.vocab + kDecoderColumnBlock - 1) / kDecoderColumnBlock;
  const int64_t work = static_cast<int64_t>(m.vocab) * d;
  if (work < kDecoderParallelWork || num_threads() == 1 || blocks == 1) {
    rows(0, m.vocab);
    return;
  }
  parallel_for(blocks, [&](int64_t b) {
    const int begin = static_cast<int>(b) * kDecoderColumnBlock;
    rows(begin, std::min(m.vocab, begin + kDecoderColumnBlock));
  });
}

/**
 * cos and sin of each rotary pair's angle at `position`: the last ones computed on this thread
 * when the position and frequencies are the same (every head of every layer of a token rotates
 * by them), else computed anew.
 */
const float* rotary_angles(const DecoderModel& m, int position) {
  thread_local std::vector<float> freq, cs;
  thread_local int last = -1;
  const int half = m.rotaryDim / 2;
  const bool same = last == position && freq.size() == static_cast<size_t>(half) &&
                    std::equal(freq.begin(), freq.end(), m.inverseFrequencies);
  if (!same) {
    freq.assign(m.inverseFrequencies, m.inverseFrequencies + half);
    cs.resize(2 * static_cast<size_t>(half));
    for (int i = 0; i < half; i++) {
      // float32 angle, as tfjs multiplies position by the float32 frequency.
      const float angle = static_cast<float>(position) * m.inverseFrequencies[i];
      cs[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      cs[half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
    last = position;
  }
  return cs.data();
}

/** Rotates the first rotaryDim channels of one head at `position` (RoFormer eq. 34). */
void rotate(const DecoderModel& m, float* head, int position) {
  const int half = m.rotaryDim / 2;
  const float* cs = rotary_angles(m, position);
  for (int i = 0; i < half; i++) {
    const float c = cs[i], s = cs[half + i];
    const int ia = m.ropeLayout == 1 ? i : 2 * i;
    const int ib = m.ropeLayout == 1 ? i + half : 2 * i + 1;
    const float a = head[ia], b = head[ib];
    head[ia] = a * c - b * s;
    head[ib] = b * c + a * s;
  }
}

struct Scratch {
  std::vector<float> normed, q, k, v, heads, out, hidden, gate, scores, logits;
};

/** Where each row of a call goes: its sequence and position. */
struct Rows {
  std::vector<int> sequence, position;
  int count() const { return static_cast<int>(sequence.size()); }
};

/** One query head of one row over its sequence's cached keys and values (softmax(q kᵀ) v). */
void attend_head(const DecoderLayer& l, const float* q, const float* keys, const float* values,
                 int position, float* scores, float* out) {
  const int hd = l.headDim;
  auto visible = [&](int key) {
    return l.window <= 0 || key < l.sinkTokens || position - key < l.window;
  };
  float top = -INFINITY;
  for (int j = 0; j <= position; j++) {
    const float logit =
        visible(j) ? dot(q, keys + static_cast<int64_t>(j) * hd, hd) * l.scale : -INFINITY;
    scores[j] = logit;
    top = std::max(top, logit);
  }
  float total = 0;
  for (int j = 0; j <= position; j++) {
    scores[j] = scores[j] == -INFINITY ? 0.0f : std::exp(scores[j] - top);
    total += scores[j];
  }
  std::fill(out, out + hd, 0.0f);
  for (int j = 0; j <= position; j++) {
    const float w = scores[j] / total;
    if (w == 0) continue;
    const float* vj = values + static_cast<int64_t>(j) * hd;
    for (int c = 0; c < hd; c++) out[c] += w * vj[c];
  }
}

/**
 * Causal self-attention of the rows over their sequences' cached keys (theirs appended first);
 * result [rows, dModel] in s.out.
 */
void attend(const DecoderModel& m, const DecoderLayer& l, const float* x, const Rows& rows,
            Scratch& s) {
  const int n = rows.count();
  const int hd = l.headDim;
  const int qWidth = l.heads * hd, kvWidth = l.kvHeads * hd;
  dense(l.q, x, s.q.data(), n);
  dense(l.k, x, s.k.data(), n);
  dense(l.v, x, s.v.data(), n);
  const int64_t stride = static_cast<int64_t>(m.maxLength) * hd;
  const int64_t sequenceStride = l.kvHeads * stride;
  int64_t work = 0;
  for (int r = 0; r < n; r++) {
    const int position = rows.position[r];
    const int64_t base = rows.sequence[r] * sequenceStride + static_cast<int64_t>(position) * hd;
    float* q = s.q.data() + static_cast<int64_t>(r) * qWidth;
    float* k = s.k.data() + static_cast<int64_t>(r) * kvWidth;
    const float* v = s.v.data() + static_cast<int64_t>(r) * kvWidth;
    if (m.ropeLayout != 0) {
      for (int h = 0; h < l.heads; h++) rotate(m, q + h * hd, position);
      for (int h = 0; h < l.kvHeads; h++) rotate(m, k + h * hd, position);
    }
    for (int g = 0; g < l.kvHeads; g++) {
      std::memcpy(l.keys + base + g * stride, k + g * hd, sizeof(float) * hd);
      std::memcpy(l.values + base + g * stride, v + g * hd, sizeof(float) * hd);
    }
    work += 2 * static_cast<int64_t>(position + 1) * qWidth;
  }
  // Query head h reads key/value head h / group (attention's repeatKvHeads). The (row, head)
  // pairs are dealt out to the threads in turn, each with its own score buffer.
  const int group = l.heads / l.kvHeads;
  const int64_t pairs = static_cast<int64_t>(n) * l.heads;
  const int tasks = work < kDecoderParallelWork
                        ? 1
                        : static_cast<int>(std::min<int64_t>(pairs, num_threads()));
  s.scores.resize(static_cast<size_t>(tasks) * m.maxLength);
  parallel_for(tasks, [&](int64_t t) {
    float* scores = s.scores.data() + t * m.maxLength;
    for (int64_t p = t; p < pairs; p += tasks) {
      const int r = static_cast<int>(p / l.heads), h = static_cast<int>(p % l.heads);
      const int64_t cache = rows.sequence[r] * sequenceStride + (h / group) * stride;
      attend_head(l, s.q.data() + static_cast<int64_t>(r) * qWidth + h * hd, l.keys + cache,
                  l.values + cache, rows.position[r], scores,
                  s.heads.data() + static_cast<int64_t>(r) * qWidth + h * hd);
    }
  });
  dense(l.o, s.heads.data(), s.out.data(), n);
}

/** The next-token logits of `count` normed rows into out [count, vocab]. */
void head(const DecoderModel& m, const float* x, int count, float* out) {
  const int d = m.dModel;
  if (m.head) {
    dense(DecoderDense{m.head, nullptr, d, m.vocab}, x, out, count);
  } else if (count == 1) {
    tied_head(m, x, out);
  } else {
    // x Eᵀ: the embedding read as a [dModel, vocab] operand with swapped strides.
    gemm_batched(1, count, m.vocab, d, Operand{x, d, 1}, 0, nullptr, Operand{m.embedding, 1, d}, 0,
                 nullptr, out);
  }
}

}  // namespace

void decoder_run(const DecoderModel& m, const DecoderBatch& batch, float* logits) {
  const int d = m.dModel;
  Rows rows;
  std::vector<int> lastRows, fed;  // the last row of each sequence fed, and that sequence
  for (int b = 0; b < batch.sequences; b++) {
    for (int i = 0; i < batch.counts[b]; i++) {
      rows.sequence.push_back(b);
      rows.position.push_back(batch.firsts[b] + i);
    }
    if (batch.counts[b] == 0) continue;
    lastRows.push_back(rows.count() - 1);
    fed.push_back(b);
  }
  const int n = rows.count();
  if (n == 0) return;
  thread_local Scratch s;
  size_t widest = d, hidden = 1;
  for (const DecoderLayer& l : m.layers) {
    widest = std::max<size_t>(widest, static_cast<size_t>(l.heads) * l.headDim);
    hidden = std::max<size_t>(hidden, l.ffn.up.out);
  }
  const size_t rowCount = static_cast<size_t>(n);
  for (auto* v : {&s.normed, &s.q, &s.k, &s.v, &s.heads, &s.out}) v->resize(rowCount * widest);
  s.hidden.resize(rowCount * hidden);
  s.gate.resize(rowCount * hidden);

  std::vector<float> x(rowCount * d);
  for (int r = 0; r < n; r++) {
    float* xr = x.data() + static_cast<int64_t>(r) * d;
    std::memcpy(xr, m.embedding + static_cast<int64_t>(batch.tokens[r]) * d, sizeof(float) * d);
    if (!m.positions) continue;
    const float* p = m.positions + static_cast<int64_t>(rows.position[r]) * d;
    for (int i = 0; i < d; i++) xr[i] += p[i];
  }
  const int64_t all = static_cast<int64_t>(n) * d;
  auto norm_rows = [&](const DecoderNorm& norm, const float* in, float* out) {
    for (int r = 0; r < n; r++)
      normalize(norm, in + static_cast<int64_t>(r) * d, out + static_cast<int64_t>(r) * d, d);
  };
  auto feed_forward_rows = [&](const DecoderLayer& l, const float* in) {
    if (l.moe.numExperts > 0) {
      moe_forward(l.moe, in, n, d, s.out.data());
    } else {
      feed_forward(l.ffn, in, n, s.hidden.data(), s.gate.data(), s.out.data());
    }
  };
  for (const DecoderLayer& l : m.layers) {
    if (l.post) {
      attend(m, l, x.data(), rows, s);
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
      norm_rows(l.norm1, x.data(), x.data());
      feed_forward_rows(l, x.data());
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
      norm_rows(l.norm2, x.data(), x.data());
    } else {
      norm_rows(l.norm1, x.data(), s.normed.data());
      attend(m, l, s.normed.data(), rows, s);
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
      norm_rows(l.norm2, x.data(), s.normed.data());
      feed_forward_rows(l, s.normed.data());
      for (int64_t i = 0; i < all; i++) x[i] += s.out[i];
    }
  }
  if (!logits) return;
  // Only each fed sequence's last token's logits are asked for.
  const int count = static_cast<int>(fed.size());
  for (int i = 0; i < count; i++) {
    normalize(m.finalNorm, x.data() + static_cast<int64_t>(lastRows[i]) * d,
              s.normed.data() + static_cast<int64_t>(i) * d, d);
  }
  const int64_t vocab = m.vocab;
  if (count == batch.sequences) {
    head(m, s.normed.data(), count, logits);
    return;
  }
  s.logits.resize(static_cast<size_t>(count) * vocab);
  head(m, s.normed.data(), count, s.logits.data());
  for (int i = 0; i < count; i++) {
    std::memcpy(logits + fed[i] * vocab, s.logits.data() + i * vocab, sizeof(float) * vocab);
  }
}

}  // namespace attnkit
