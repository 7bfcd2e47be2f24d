// The fused decoder's mixture-of-experts feed-forward (see DecoderMoE in decoder.h), following
// routing's MoE with its top-k router (moe.ts, routers/topk.ts, routers/token-choice.ts) step
// by step, so fused and unfused decodes route the same tokens to the same experts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "decoder.h"
#include "decoder_ops.h"

namespace attnkit {
namespace {

struct MoEScratch {
  std::vector<float> scores, gates, picked, hidden, gate, expertOut, slots;
  std::vector<int> indices, rows;
};

/** Scores [experts] of one token: softmax(logits) or σ(logits), in place. */
void score(const DecoderMoE& moe, float* s) {
  const int e = moe.numExperts;
  if (moe.sigmoid) {
    for (int i = 0; i < e; i++) s[i] = 1.0f / (1.0f + std::exp(-s[i]));
    return;
  }
  float top = -INFINITY;
  for (int i = 0; i < e; i++) top = std::max(top, s[i]);
  float total = 0;
  for (int i = 0; i < e; i++) {
    s[i] = std::exp(s[i] - top);
    total += s[i];
  }
  for (int i = 0; i < e; i++) s[i] /= total;
}

/**
 * Picks the top k of scores (+ selection bias) into indices[k], as routing's selectTopK: slot
 * by slot the highest not yet taken, ties to the lower expert; then the gates.
 */
void route(const DecoderMoE& moe, const float* s, int* indices, float* gates) {
  const int e = moe.numExperts, k = moe.topK;
  auto selected = [&](int i) { return moe.selectionBias ? s[i] + moe.selectionBias[i] : s[i]; };
  for (int slot = 0; slot < k; slot++) {
    int best = -1;
    float bestValue = -INFINITY;
    for (int i = 0; i < e; i++) {
      bool taken = false;
      for (int j = 0; j < slot; j++) taken = taken || indices[j] == i;
      const float v = selected(i);
      if (!taken && (best < 0 || v > bestValue)) {
        best = i;
        bestValue = v;
      }
    }
    indices[slot] = best;
    gates[slot] = s[best];
  }
  if (!moe.normalize) return;
  float sum = 0;
  for (int j = 0; j < k; j++) sum += gates[j];
  for (int j = 0; j < k; j++) gates[j] /= sum + 1e-20f;
}

}  // namespace

void moe_forward(const DecoderMoE& moe, const float* x, int rows, int d, float* out) {
  thread_local MoEScratch s;
  const int e = moe.numExperts, k = moe.topK;
  const size_t n = static_cast<size_t>(rows);
  size_t hidden = 1;
  for (const auto* list : {&moe.experts, &moe.shared})
    for (const DecoderFeedForward& f : *list) hidden = std::max<size_t>(hidden, f.up.out);
  s.scores.resize(n * e);
  s.gates.resize(n * k);
  s.indices.resize(n * k);
  s.picked.resize(n * d);
  s.expertOut.resize(n * d);
  s.slots.resize(n * k * d);
  s.hidden.resize(n * hidden);
  s.gate.resize(n * hidden);

  dense(moe.router, x, s.scores.data(), rows);
  for (int t = 0; t < rows; t++) {
    float* scores = s.scores.data() + static_cast<int64_t>(t) * e;
    score(moe, scores);
    route(moe, scores, s.indices.data() + static_cast<int64_t>(t) * k,
          s.gates.data() + static_cast<int64_t>(t) * k);
  }
  // Each expert runs on its tokens only (routing's sparse dispatch); its outputs go to the
  // slots that chose it, then each token sums its slots in slot order.
  for (int i = 0; i < e; i++) {
    s.rows.clear();
    for (size_t slot = 0; slot < n * k; slot++)
      if (s.indices[slot] == i) s.rows.push_back(static_cast<int>(slot));
    const int m = static_cast<int>(s.rows.size());
    if (m == 0) continue;
    for (int r = 0; r < m; r++) {
      std::memcpy(s.picked.data() + static_cast<int64_t>(r) * d,
                  x + static_cast<int64_t>(s.rows[r] / k) * d, sizeof(float) * d);
    }
    feed_forward(moe.experts[i], s.picked.data(), m, s.hidden.data(), s.gate.data(),
                 s.expertOut.data());
    for (int r = 0; r < m; r++) {
      std::memcpy(s.slots.data() + static_cast<int64_t>(s.rows[r]) * d,
                  s.expertOut.data() + static_cast<int64_t>(r) * d, sizeof(float) * d);
    }
  }
  for (int t = 0; t < rows; t++) {
    float* o = out + static_cast<int64_t>(t) * d;
    std::fill(o, o + d, 0.0f);
    for (int j = 0; j < k; j++) {
      const int64_t slot = static_cast<int64_t>(t) * k + j;
      const float g = s.gates[slot];
      const float* y = s.slots.data() + slot * d;
      for (int c = 0; c < d; c++) o[c] += y[c] * g;
    }
  }
  // Always-active shared experts (DeepSeekMoE) on every token, added in order.
  for (const DecoderFeedForward& f : moe.shared) {
    feed_forward(f, x, rows, s.hidden.data(), s.gate.data(), s.expertOut.data());
    const int64_t all = static_cast<int64_t>(rows) * d;
    for (int64_t i = 0; i < all; i++) out[i] += s.expertOut[i];
  }
}

}  // namespace attnkit
