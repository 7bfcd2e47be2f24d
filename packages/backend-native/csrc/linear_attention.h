// Chunked linear attention with a scalar log decay per step (Katharopoulos et al. 2020, eqs. 4-9;
// the chunkwise form of Yang et al. 2023, GLA sec. 2.2, scalar gate; Qin et al. 2024,
// Lightning Attention-2, sec. 3): quadratic within a chunk, a [dk, dv] state across chunks, so
// neither pass builds a [t, t] matrix. The backward recomputes the chunk-boundary states.
#pragma once
#include <cstdint>

namespace attnkit {

struct LinearShape {
  int64_t batch, heads, t, dk, dv, chunk;
  float scale;
  float eps;       // added to q·z when normalising
  bool causal;     // false: every step reads the whole sequence (no decay, no initial state)
  bool normalize;  // out_t = q_t S_t / (q_t·z_t + eps), z the decayed key sum
};

/**
 * q, k [B,H,t,dk], v [B,H,t,dv], g [B,H,t] (log decay), kv0 [B,H,dk,dv], z0 [B,H,dk] ->
 * out [B,H,t,dv], kv [B,H,dk,dv], z [B,H,dk] (zeros without normalize). With causal:
 *   S_t = exp(g_t) S_{t-1} + k_tᵀ v_t,  out_t = scale · q_t S_t.
 */
void linear_attention_forward(const LinearShape& s, const float* q, const float* k,
                              const float* v, const float* g, const float* kv0, const float* z0,
                              float* out, float* kv, float* z);

/** Gradients of sum(dout · out) + sum(dkv · kv) + sum(dz · z) w.r.t. every input. */
void linear_attention_backward(const LinearShape& s, const float* q, const float* k,
                               const float* v, const float* g, const float* kv0, const float* z0,
                               const float* dout, const float* dkv, const float* dz, float* dq,
                               float* dk, float* dv, float* dg, float* dkv0, float* dz0);

}  // namespace attnkit
