import * as tf from '@tensorflow/tfjs-core';
import { checkShape, rotaryKernel } from '@attnkit/core';
import { toPositions } from '../util';
import { type ResolvedRotary, type RotaryOptions, resolveRotary } from './frequencies';

/**
 * Rotary position embedding (Su et al., RoFormer, eq. 34): each pair (x_a, x_b) of the first
 * `rotaryDim` channels is rotated by the angle m * theta_i at position m, so q_m . k_n depends
 * on m - n only. `layout` picks the pairs: 'half' pairs channel i with i + rotaryDim/2
 * (GPT-NeoX, LLaMA), 'interleaved' pairs 2i with 2i+1 (GPT-J, RoFormer). Channels past
 * `rotaryDim` pass through (partial rotary). Decoding passes the absolute positions.
 *
 * `x` is `[batch, heads, time, headDim]`, `positions` `[time]`.
 */
export function applyRotary(
  x: tf.Tensor4D,
  positions: tf.Tensor1D | readonly number[],
  config: RotaryOptions | ResolvedRotary,
): tf.Tensor4D {
  const r = 'invFreq' in config ? config : resolveRotary(config);
  return rotate(x, positions, r);
}

/** `applyRotary` with frequencies already resolved (the module's path). */
export function rotate(
  x: tf.Tensor4D,
  positions: tf.Tensor1D | readonly number[],
  r: ResolvedRotary,
): tf.Tensor4D {
  checkShape('rotary', 'x', x, [null, null, null, r.headDim]);
  const [batch, heads, time] = x.shape;
  return tf.tidy(() => {
    const pos = toPositions('rotary', 'positions', positions, time);
    const fused = rotaryKernel(x, pos, r.invFreq, r.layout);
    if (fused) return fused;
    const half = r.rotaryDim / 2;
    const angles = tf.mul(tf.expandDims(pos, 1), tf.tensor2d(r.invFreq, [1, half])); // [t, half]
    const cos = tf.cos(angles);
    const sin = tf.sin(angles);
    const rot =
      r.rotaryDim === r.headDim ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, r.rotaryDim]);
    let out: tf.Tensor4D;
    if (r.layout === 'half') {
      const [a, b] = tf.split(rot, 2, 3);
      out = tf.concat(
        [tf.sub(tf.mul(a!, cos), tf.mul(b!, sin)), tf.add(tf.mul(b!, cos), tf.mul(a!, sin))],
        3,
      ) as tf.Tensor4D;
    } else {
      const pairs = tf.reshape(rot, [batch, heads, time, half, 2]);
      const [a, b] = tf.split(pairs, 2, 4).map((t) => tf.squeeze(t, [4]));
      const rotated = tf.stack(
        [tf.sub(tf.mul(a!, cos), tf.mul(b!, sin)), tf.add(tf.mul(b!, cos), tf.mul(a!, sin))],
        4,
      );
      out = tf.reshape(rotated, [batch, heads, time, r.rotaryDim]);
    }
    if (r.rotaryDim === r.headDim) return out;
    const pass = tf.slice(x, [0, 0, 0, r.rotaryDim], [-1, -1, -1, -1]);
    return tf.concat([out, pass], 3) as tf.Tensor4D;
  });
}
