import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks';
import { alongLastAxis, resolveAxis } from './axis';
import { checkFloat } from './tensor-checks';

export interface SoftmaxOptions {
  /** Axis normalised over; negative counts from the end. Default -1. */
  axis?: number;
  /** Logits are divided by it; > 0. Default 1. */
  temperature?: number;
}

/** Stable softmax exp(x/T - max) / sum along any axis (tf.softmax subtracts the max). */
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
