// Gated linear attention and the (gated) delta rule in their recurrent form, one step at a time
// per head (contract: @attnkit/kernels' GATED_RECURRENCE). The [dk, dv] state stays in cache,
// so on a CPU the exact recurrence costs about what the chunked forms cost. The backward
// recomputes the states from checkpoints every kCheckpoint steps: memory O(t/64 · dk · dv) per
// head beyond the inputs.
#pragma once
#include <cstdint>

namespace attnkit {

struct RecurrenceShape {
  int64_t bh, t, dk, dv;
  int64_t gates;  // 1 (a decay per step) or dk (one per key dimension)
  float scale;
  bool delta;     // u_t = β_t (v_t − S'ᵀ k_t); false: u_t = v_t
};

/**
 * q, k [bh, t, dk], v [bh, t, dv], beta [bh, t], g [bh, t, gates], s0 [bh, dk, dv] ->
 * out [bh, t, dv], state [bh, dk, dv]:
 *   S' = diag(exp(g_t)) S,  S_t = S' + k_t u_tᵀ,  out_t = scale · S_tᵀ q_t.
 */
void gated_recurrence_forward(const RecurrenceShape& s, const float* q, const float* k,
                              const float* v, const float* beta, const float* g, const float* s0,
                              float* out, float* state);

/** Gradients of sum(dout · out) + sum(dstate · state) w.r.t. every input (dbeta 0 without delta). */
void gated_recurrence_backward(const RecurrenceShape& s, const float* q, const float* k,
                               const float* v, const float* beta, const float* g,
                               const float* s0, const float* dout, const float* dstate, float* dq,
                               float* dk, float* dv, float* dbeta, float* dg, float* ds0);

}  // namespace attnkit
