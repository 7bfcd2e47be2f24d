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
  const ax = checkSinkInputs('softmaxWithSink', x, sinkLogit, axis);
  return tf.tidy(() => {
    const slot = sinkSlot(x, sinkLogit, ax);
    // Subtracting the max changes nothing mathematically, so its gradient contributions cancel.
    const max = tf.maximum(tf.max(x, ax, true), slot);
    const ex = tf.exp(tf.sub(x, max));
    const denominator = tf.add(tf.sum(ex, ax, true), tf.exp(tf.sub(slot, max)));
    return tf.div(ex, denominator);
  });
}

/**
 * log(exp(s) + sum_j exp(x_j)) along `axis` (removed): the log of softmaxWithSink's
 * denominator, so partial attention results can be merged by it. Same sink shapes.
 */
export function logSumExpWithSink(
  x: tf.Tensor,
  sinkLogit: number | tf.Tensor,
  axis = -1,
): tf.Tensor {
  const ax = checkSinkInputs('logSumExpWithSink', x, sinkLogit, axis);
  return tf.tidy(() => tf.logSumExp(tf.concat([x, sinkSlot(x, sinkLogit, ax)], ax), ax));
}

function checkSinkInputs(
  block: string,
  x: tf.Tensor,
  sinkLogit: number | tf.Tensor,
  axis: number,
): number {
  checkFloat(block, 'x', x);
  const ax = resolveAxis(block, x, axis);
  if (typeof sinkLogit === 'number') {
    checkNumber(block, 'sinkLogit', sinkLogit);
  } else {
    checkFloat(block, 'sinkLogit', sinkLogit);
    checkBroadcastsTo(block, 'sinkLogit', sinkLogit.shape, rowShapeOf(x, ax));
  }
  return ax;
}

function rowShapeOf(x: tf.Tensor, ax: number): number[] {
  return x.shape.filter((_, i) => i !== ax);
}

/** The sink as a size-1 slot on the softmax axis, so it joins the max and the sum. */
function sinkSlot(x: tf.Tensor, sinkLogit: number | tf.Tensor, ax: number): tf.Tensor {
  const sink = typeof sinkLogit === 'number' ? tf.scalar(sinkLogit) : sinkLogit;
  return tf.expandDims(tf.broadcastTo(sink, rowShapeOf(x, ax)), ax);
}
