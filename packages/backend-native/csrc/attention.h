// Fused scaled dot-product attention with an online softmax (Milakov & Gimelshein 2018;
// FlashAttention, Dao et al. 2022, Alg. 1 forward and Alg. 2 backward with recomputed
// weights): never builds the [tq, tk] weight matrix.
#pragma once
#include <climits>
#include <cstdint>

namespace attnkit {

struct AttentionShape {
  int64_t batch, heads, kvHeads, tq, tk, d, dv;
  float scale;
  bool causal;     // key j visible to query i only if kpos[j] <= qpos[i]
  int64_t window;  // > 0: also qpos[i] - kpos[j] < window
  // qpos holds B·H·tq positions, one list per (batch, head), instead of tq shared by all: the
  // callers that pack each head's own query rows (a row mask) give each head its positions.
  bool headPositions = false;
  // Row-mask mode: the kernel computes tq packed rows per (batch, head), and packed row r of
  // head bh is row rowIndex[bh·tq + r] (-1: padding) of q, out, lse, dout and dq, which hold
  // fullRows rows per head. The caller clears the rows no head keeps (out 0, lse -inf); dq is
  // zeroed here. Saves packing q, out, lse, dout and dq in and out of [B·H·tq] copies.
  const int32_t* rowIndex = nullptr;
  int64_t fullRows = 0;
};

/** A query at this position is padding (packed rows of a row mask): it sees no key and is skipped. */
constexpr int32_t kPaddingPosition = INT32_MIN;

/** Rows per (batch, head) of q, out, lse, dout and dq: fullRows in row-mask mode, else tq. */
inline int64_t stored_rows(const AttentionShape& s) { return s.rowIndex ? s.fullRows : s.tq; }

/** Where computed row r (of B·H·tq) is stored: itself, or its index's row (-1: padding). */
inline int64_t stored_row(const AttentionShape& s, int64_t r) {
  if (!s.rowIndex) return r;
  const int32_t i = s.rowIndex[r];
  return i < 0 ? -1 : (r / s.tq) * s.fullRows + i;
}

/** The positions of head bh's queries. */
inline const int32_t* query_positions(const AttentionShape& s, const int32_t* qpos, int64_t bh) {
  return s.headPositions ? qpos + bh * s.tq : qpos;
}

/**
 * q [B,H,tq,d], k [B,KH,tk,d], v [B,KH,tk,dv] -> out [B,H,tq,dv] and lse [B,H,tq], the
 * log-sum-exp of each row's scaled logits (+inf marks a row with no visible key: its output is
 * the mean of v, as a softmax over all-equal masked logits gives).
 */
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const int32_t* qpos, const int32_t* kpos, float* out, float* lse);

/** Gradients of sum(dout · out) with respect to q, k and v, from the forward's out and lse. */
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const int32_t* qpos, const int32_t* kpos, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv);

}  // namespace attnkit
