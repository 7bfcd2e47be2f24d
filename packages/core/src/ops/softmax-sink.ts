import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks';
import { resolveAxis } from './axis';
import { checkBroadcastsTo, checkFloat } from './tensor-checks';

/**
 * Softmax with an extra sink logit s in the denominator only:
 * p_i = exp(x_i) / (exp(s) + sum_j exp(x_j)), so a row may put less than 1 on the keys.
 * s = 0 is softmax₁ (Miller 2023, "Attention is off by one"); a learned per-head s is the
 * gpt-oss attention sink. A tensor sink broadcasts against x with the softmax axis removed
 * (per head: [1, heads, 1] for logits [batch, heads, tq, tk]) and receives a gradient.
 */
export function softmaxWithSink(x: tf.Tensor, sinkLogit: number | tf.Tensor, axis = -1): tf.Tensor {
  checkFloat('softmaxWithSink', 'x', x);
  const ax = resolveAxis('softmaxWithSink', x, axis);
  const rowShape = x.shape.filter((_, i) => i !== ax);
  if (typeof sinkLogit === 'number') {
    checkNumber('softmaxWithSink', 'sinkLogit', sinkLogit);
  } else {
    checkFloat('softmaxWithSink', 'sinkLogit', sinkLogit);
    checkBroadcastsTo('softmaxWithSink', 'sinkLogit', sinkLogit.shape, rowShape);
  }
  return tf.tidy(() => {
    const sink = typeof sinkLogit === 'number' ? tf.scalar(sinkLogit) : sinkLogit;
    // The sink becomes a size-1 slot on the softmax axis, so it joins the max and the sum.
    const slot = tf.expandDims(tf.broadcastTo(sink, rowShape), ax);
    // Subtracting the max changes nothing mathematically, so its gradient contributions cancel.
    const max = tf.maximum(tf.max(x, ax, true), slot);
    const ex = tf.exp(tf.sub(x, max));
    const denominator = tf.add(tf.sum(ex, ax, true), tf.exp(tf.sub(slot, max)));
    return tf.div(ex, denominator);
  });
}
