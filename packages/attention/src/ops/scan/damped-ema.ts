import * as tf from '@tensorflow/tfjs-core';
import { linearRecurrence } from './linear-recurrence';

/** Per channel d and EMA dimension j, [d, n] each: h_t = q ⊙ h_{t-1} + w ⊙ x_t, y_t = Σ_j η h_t. */
export interface DampedEmaWeights {
  /** q in (0, 1): the damped decay 1 - α ⊙ δ. */
  decay: tf.Tensor2D;
  /** w: the input weight α ⊙ β. */
  input: tf.Tensor2D;
  /** η: the output weight. */
  output: tf.Tensor2D;
}

export type DampedEmaResult = {
  /** y [b, t, d]. */
  output: tf.Tensor3D;
  /** h after the last token [b, d, n]. */
  state: tf.Tensor3D;
};

/**
 * Mega's multi-dimensional damped EMA (Ma et al. 2023, eqs. 2-3) in chunks of c tokens without
 * the [b, t, d, n] states: within a chunk, y is a causal convolution of x with the kernel
 * K_d[i] = Σ_j η w q^i (a [c, c] Toeplitz product per channel); across chunks only the states at
 * the chunk ends are carried (Σ_s q^{c-1-s} w x_s, then h ← q^c h + that, a recurrence over t/c
 * steps), and they reach the next chunk's tokens as Σ_j η q^{i+1} h. Everything is a batched
 * matmul over channels: O(t·c·d + t·d·n) work, O(t·d + (t/c)·d·n) memory. x [b, t, d]; h0
 * [b, d, n] or zeros. Checked by the caller.
 */
export function dampedEmaChunks(
  x: tf.Tensor3D,
  weights: DampedEmaWeights,
  chunkSize: number,
  h0?: tf.Tensor,
): DampedEmaResult {
  return tf.tidy(() => {
    const t = x.shape[1];
    const c = Math.min(chunkSize, t);
    const whole = Math.floor(t / c) * c;
    // Whole chunks, then the rest as one shorter chunk from the state they leave.
    const head = whole === t ? x : (tf.slice(x, [0, 0, 0], [-1, whole, -1]) as tf.Tensor3D);
    const first = chunks(head, weights, c, h0);
    if (whole === t) return first;
    const tail = tf.slice(x, [0, whole, 0], [-1, t - whole, -1]) as tf.Tensor3D;
    const rest = chunks(tail, weights, t - whole, first.state);
    return {
      output: tf.concat([first.output, rest.output], 1) as tf.Tensor3D,
      state: rest.state,
    };
  });
}

/** t a multiple of c. */
function chunks(
  x: tf.Tensor3D,
  { decay, input, output }: DampedEmaWeights,
  c: number,
  h0?: tf.Tensor,
): DampedEmaResult {
  const [b, t, d] = x.shape;
  const n = decay.shape[1];
  const m = t / c;
  // q^i = exp(i log q) for i = 0..c, [c + 1, d, n]; q floored at 1e-30 so that i = 0 gives 1.
  const logDecay = tf.log(tf.maximum(tf.expandDims(decay, 0), 1e-30));
  const powers = tf.exp(tf.mul(tf.reshape(tf.range(0, c + 1), [c + 1, 1, 1]), logDecay));
  const at = (from: number, count: number) => tf.slice(powers, [from, 0, 0], [count, d, n]);
  // K [c, d] = Σ_j η w q^i; the Toeplitz T [d, c(out), c(in)] = K[i - s] for s <= i, spread by
  // a product with the constant shifts E [lag, i·c + s] (a gather's gradient would be a slow
  // segment sum).
  const kernel = tf.sum(tf.mul(at(0, c), tf.mul(output, input)), 2);
  const shifts = new Float32Array(c * c * c);
  for (let i = 0; i < c; i++) for (let s = 0; s <= i; s++) shifts[(i - s) * c * c + i * c + s] = 1;
  const toeplitz = tf.reshape(tf.matMul(kernel, tf.tensor2d(shifts, [c, c * c]), true, false), [
    d,
    c,
    c,
  ]);
  // Channels first: X [d, c, b·m] (token s of every chunk in a column).
  const xs = tf.transpose(tf.reshape(x, [b * m, c, d]), [2, 1, 0]) as tf.Tensor3D;
  const within = tf.matMul(toeplitz as tf.Tensor3D, xs); // [d, c, b·m]
  // Each chunk's own contribution to its end state: Σ_s q^{c-1-s} w x_s, [d, b·m, n].
  const toEnd = tf.mul(tf.reverse(at(0, c), 0), tf.expandDims(input, 0)); // [c, d, n]
  const ends = tf.matMul(xs, tf.transpose(toEnd, [1, 0, 2]) as tf.Tensor3D, true, false);
  // States at the chunk ends: h ← q^c h + ends, over the m chunks ([b, m, d, n]).
  const drive = tf.transpose(tf.reshape(ends, [d, b, m, n]), [1, 2, 0, 3]);
  const carried = linearRecurrence(tf.reshape(at(c, 1), [1, 1, d, n]), drive, {
    initialState: h0,
  });
  // The state each chunk starts from: h0 (or 0), then the previous chunk's end.
  const start0 = h0 ? tf.expandDims(h0, 1) : tf.zeros([b, 1, d, n]);
  const starts =
    m === 1
      ? start0
      : tf.concat([start0, tf.slice(carried.output, [0, 0, 0, 0], [b, m - 1, d, n])], 1);
  // Σ_j η q^{i+1} h_start for the chunk's tokens i: [d, b·m, n] · [d, n, c].
  const fromStart = tf.transpose(tf.mul(at(1, c), tf.expandDims(output, 0)), [1, 2, 0]);
  const startsByChannel = tf.transpose(tf.reshape(starts, [b * m, d, n]), [1, 0, 2]);
  const across = tf.matMul(startsByChannel as tf.Tensor3D, fromStart as tf.Tensor3D); // [d, b·m, c]
  const y = tf.add(within, tf.transpose(across, [0, 2, 1])); // [d, c, b·m]
  return {
    output: tf.reshape(tf.transpose(y, [2, 1, 0]), [b, t, d]) as tf.Tensor3D,
    state: tf.reshape(tf.slice(carried.output, [0, m - 1, 0, 0], [b, 1, d, n]), [
      b,
      d,
      n,
    ]) as tf.Tensor3D,
  };
}
