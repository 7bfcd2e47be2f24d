import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks';
import { ShapeError, formatShape } from '../errors';
import { alongLastAxis, checkFloat, resolveAxis } from './axis';

export interface SoftmaxOptions {
  axis?: number;
  /** Logits are divided by it; > 0. */
  temperature?: number;
}

/** Stable softmax exp(x/T - max) / sum, along any axis. */
export function softmax(x: tf.Tensor, options: SoftmaxOptions = {}): tf.Tensor {
  checkFloat('softmax', 'x', x);
  const axis = resolveAxis('softmax', x, options.axis ?? -1);
  const temperature = checkNumber('softmax', 'temperature', options.temperature ?? 1, {
    min: 0,
    minExclusive: true,
  });
  return alongLastAxis(x, axis, (t) =>
    tf.tidy(() => tf.softmax(temperature === 1 ? t : tf.div(t, temperature))),
  );
}

/**
 * Softmax with an extra sink logit s in the denominator only:
 * p_i = exp(x_i) / (exp(s) + sum_j exp(x_j)). With s = 0 this is softmax₁ (Miller 2023,
 * "off-by-one"); a learned per-head s is the gpt-oss / attention-sink variant (Xiao et al. 2023).
 * A tensor sink broadcasts against x with the softmax axis removed.
 */
export function softmaxWithSink(x: tf.Tensor, sinkLogit: number | tf.Tensor, axis = -1): tf.Tensor {
  checkFloat('softmaxWithSink', 'x', x);
  const ax = resolveAxis('softmaxWithSink', x, axis);
  if (typeof sinkLogit === 'number') checkNumber('softmaxWithSink', 'sinkLogit', sinkLogit);
  return tf.tidy(() => {
    let sink: tf.Tensor;
    if (typeof sinkLogit === 'number') {
      sink = tf.scalar(sinkLogit);
    } else {
      checkFloat('softmaxWithSink', 'sinkLogit', sinkLogit);
      if (sinkLogit.rank > x.rank - 1) {
        throw new ShapeError(
          'softmaxWithSink',
          'sinkLogit',
          `at most rank ${x.rank - 1} (x without its softmax axis)`,
          `shape ${formatShape(sinkLogit.shape)}`,
        );
      }
      sink = sinkLogit;
    }
    // Put the sink back on the softmax axis as a size-1 slot so it broadcasts.
    const reduced = x.shape.filter((_, i) => i !== ax);
    const sinkFull = tf.expandDims(tf.broadcastTo(sink, reduced), ax);
    const max = tf.maximum(tf.max(x, ax, true), sinkFull);
    const ex = tf.exp(tf.sub(x, max));
    const denom = tf.add(tf.sum(ex, ax, true), tf.exp(tf.sub(sinkFull, max)));
    return tf.div(ex, denom);
  });
}
