import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks';
import { checkFloat } from './tensor-checks';

/** cap · tanh(x / cap): bounds logits smoothly to (-cap, cap) (Gemma 2, Team et al. 2024, sec. 2). */
export function softcap(x: tf.Tensor, cap: number): tf.Tensor {
  checkFloat('softcap', 'x', x);
  checkNumber('softcap', 'cap', cap, { min: 0, minExclusive: true });
  return tf.tidy(() => tf.mul(tf.tanh(tf.div(x, cap)), cap));
}
