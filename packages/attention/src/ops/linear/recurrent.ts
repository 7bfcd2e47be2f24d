import * as tf from '@tensorflow/tfjs-core';

/**
 * The recurrent form (fla's `fused_recurrent`): Katharopoulos et al. 2020 sec. 3.4 (the RNN
 * view) with a log decay g (RetNet eq. 6): S_t = exp(g_t) S_{t-1} + k_tᵀ v_t, out_t = q_t S_t.
 * One token per step, state [dk, dv] per head: the form for decoding. Gradients come from
 * autodiff through the loop.
 */
export function linearRecurrent(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const [b, h, t, dk] = q.shape;
    const dv = v.shape[3];
    let state: tf.Tensor = s0 ?? tf.zeros([b, h, dk, dv]);
    const outputs: tf.Tensor[] = [];
    for (let i = 0; i < t; i++) {
      const qi = tf.slice(q, [0, 0, i, 0], [b, h, 1, dk]);
      const ki = tf.slice(k, [0, 0, i, 0], [b, h, 1, dk]);
      const vi = tf.slice(v, [0, 0, i, 0], [b, h, 1, dv]);
      const update = tf.matMul(ki, vi, true, false);
      if (g) {
        const decay = tf.exp(tf.reshape(tf.slice(g, [0, 0, i], [b, h, 1]), [b, h, 1, 1]));
        state = tf.add(tf.mul(decay, state), update);
      } else {
        state = tf.add(state, update);
      }
      outputs.push(tf.matMul(qi, state));
    }
    return { output: tf.concat(outputs, 2) as tf.Tensor4D, state: state as tf.Tensor4D };
  });
}
