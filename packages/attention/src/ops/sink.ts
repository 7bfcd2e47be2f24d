import * as tf from '@tensorflow/tfjs-core';

/** A sink logit as a [1, heads, 1, 1] tensor, so it broadcasts over logits [b, h, tq, tk]. */
export function sinkAsTensor(sink: number | tf.Tensor, heads: number): tf.Tensor4D {
  return tf.tidy(() => {
    const t = typeof sink === 'number' ? tf.scalar(sink) : sink;
    return tf.reshape(tf.broadcastTo(tf.reshape(t, [-1]), [heads]), [
      1,
      heads,
      1,
      1,
    ]) as tf.Tensor4D;
  });
}
