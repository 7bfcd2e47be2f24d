import * as tf from '@tensorflow/tfjs-core';

/**
 * Depthwise 'same' convolution of u [b, h, w, C] by a filter [kh, kw, C] (odd sizes), as a sum
 * of shifted copies weighted per channel: tf.depthwiseConv2d has no gradient kernels on wasm.
 * Cost kh·kw elementwise passes, fine for the small kernels of LCE / LKCA-style blocks.
 */
export function depthwiseSame(u: tf.Tensor4D, w: tf.Tensor3D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, gh, gw, c] = u.shape;
    const [kh, kw] = w.shape;
    const padded = tf.pad(u, [
      [0, 0],
      [kh >> 1, kh >> 1],
      [kw >> 1, kw >> 1],
      [0, 0],
    ]);
    const taps = tf.unstack(tf.reshape(w, [kh * kw, c]));
    let out: tf.Tensor = tf.zeros([b, gh, gw, c]);
    for (let dy = 0; dy < kh; dy++)
      for (let dx = 0; dx < kw; dx++) {
        const shifted = tf.slice(padded, [0, dy, dx, 0], [b, gh, gw, c]);
        out = tf.add(out, tf.mul(shifted, taps[dy * kw + dx]!));
      }
    return out as tf.Tensor4D;
  });
}
