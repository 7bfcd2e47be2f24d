import * as tf from '@tensorflow/tfjs-core';

/**
 * The quadratic ("attention") form of linear attention, the reference for the other forms
 * (fla's `naive`). Katharopoulos et al. 2020 eq. 4 with the causal mask (eq. 8): out = (Q Kᵀ ⊙ M) V.
 * With a log decay g (RetNet, Sun et al. 2023 eq. 5; GLA, Yang et al. 2023 eq. 3 scalar form)
 * M_ts = exp(G_t - G_s) for s <= t, G the cumulative sum of g, computed as a difference of logs
 * and masked before exp, so no ratio of small products is ever formed. An initial state S0
 * adds exp(G_t) q_t S0. Memory O(T²) per head.
 */
export function linearParallel(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const [b, h, t] = q.shape;
    const scores = tf.matMul(q, k, false, true);
    const causal = tf.cast(tf.linalg.bandPart(tf.ones([t, t]), -1, 0), 'bool');
    const cum = g ? tf.cumsum(g, 2) : null; // G_t (time is the last axis of g)
    let weights: tf.Tensor;
    if (cum) {
      const diff = tf.sub(tf.expandDims(cum, 3), tf.expandDims(cum, 2));
      const logDecay = tf.where(causal, diff, tf.fill(diff.shape, -Infinity));
      weights = tf.mul(scores, tf.exp(logDecay));
    } else {
      weights = tf.where(causal, scores, tf.zerosLike(scores));
    }
    let output = tf.matMul(weights, v);
    // State after the last token: S_T = exp(G_T) S0 + Σ_s exp(G_T - G_s) k_sᵀ v_s.
    const last = cum ? tf.slice(cum, [0, 0, t - 1], [b, h, 1]) : null;
    const kd = last && cum ? tf.mul(k, tf.expandDims(tf.exp(tf.sub(last, cum)), 3)) : k;
    let state = tf.matMul(kd, v, true, false);
    if (s0) {
      const qd = cum ? tf.mul(q, tf.expandDims(tf.exp(cum), 3)) : q;
      output = tf.add(output, tf.matMul(qd, s0));
      state = tf.add(state, last ? tf.mul(tf.reshape(tf.exp(last), [b, h, 1, 1]), s0) : s0);
    }
    return { output: output as tf.Tensor4D, state: state as tf.Tensor4D };
  });
}

/** Bidirectional (encoder) form, Katharopoulos et al. 2020 eq. 4 unmasked: (Q Kᵀ) V. */
export function linearParallelBidirectional(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => ({
    output: tf.matMul(tf.matMul(q, k, false, true), v),
    state: tf.matMul(k, v, true, false),
  }));
}

/** Bidirectional form by associativity, eq. 5: Q (Kᵀ V), O(T·dk·dv) time, O(dk·dv) extra memory. */
export function linearBidirectional(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const state = tf.matMul(k, v, true, false) as tf.Tensor4D;
    return { output: tf.matMul(q, state) as tf.Tensor4D, state };
  });
}
