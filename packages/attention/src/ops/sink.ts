import * as tf from '@tensorflow/tfjs-core';

/**
 * The `sinkLogit` option (a number, or a tensor of one value or one per head) reshaped for
 * logits [b, h, tq, tk]. The sink math itself is core's softmaxWithSink / logSumExpWithSink.
 */

/** As a [1, heads, 1, 1] tensor (the chunked form's custom-gradient input). */
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

/** As core's sink ops take it for a softmax over keys: a number, or [1, heads, 1]. */
export function sinkPerRow(sink: number | tf.Tensor, heads: number): number | tf.Tensor {
  if (typeof sink === 'number') return sink;
  return tf.tidy(() => tf.reshape(sinkAsTensor(sink, heads), [1, heads, 1]));
}
