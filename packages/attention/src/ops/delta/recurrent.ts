import * as tf from '@tensorflow/tfjs-core';
import { pieces } from '../slicing';

/**
 * The recurrent form (flash-linear-attention's `fused_recurrent`): the delta rule of Schlag et
 * al. 2021 (sec. 4, the delta update), gated as in Yang, Kautz & Hatamizadeh 2025 (sec. 3, the
 * gated delta rule), one token a step:
 *
 *   S ← α_t S;  u_t = β_t (v_t − Sᵀ k_t);  S ← S + k_t u_tᵀ;  o_t = Sᵀ q_t
 *
 * which is S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ, state [dk, dv] per head. Two
 * small matrix products per step: the form for decoding. Gradients by autodiff through the loop
 * keep every step's state: O(T·dk·dv) memory per head in training (use the chunk form there).
 */
export function deltaRecurrent(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  beta: tf.Tensor3D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const [b, h, t, dk] = q.shape;
    let state: tf.Tensor = s0 ?? tf.zeros([b, h, dk, v.shape[3]]);
    const outputs: tf.Tensor[] = [];
    // One piece per token (split, whose gradient is a concat; see `pieces`).
    const [qs, ks, vs, bs] = [q, k, v, beta].map((x) => pieces(x, t, 2));
    const gs = g ? pieces(g, t, 2) : null;
    const scalar = (x: tf.Tensor) => tf.reshape(x, [b, h, 1, 1]);
    for (let i = 0; i < t; i++) {
      const ki = ks[i]!;
      if (gs) state = tf.mul(tf.exp(scalar(gs[i]!)), state);
      const u = tf.mul(scalar(bs![i]!), tf.sub(vs![i]!, tf.matMul(ki, state)));
      state = tf.add(state, tf.matMul(ki, u, true, false));
      outputs.push(tf.matMul(qs![i]!, state));
    }
    return { output: tf.concat(outputs, 2) as tf.Tensor4D, state: state as tf.Tensor4D };
  });
}
