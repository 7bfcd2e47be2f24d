// The linear scan kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; its name, inputs and outputs are @attnkit/kernels' LINEAR_SCAN contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  LINEAR_SCAN,
  LINEAR_SCAN_GRAD,
  type LinearScanInputs,
  type LinearScanOutputs,
} from '@attnkit/kernels';

/**
 * h_t = a_t ⊙ h_{t-1} + b_t as the active backend's kernel when it has one (with its gradient
 * kernel): a (already of b's length in time) broadcast to b's shape, autodiff summing its gradient
 * back; undefined otherwise. Call inside a tidy.
 */
export function scanKernel(
  a: tf.Tensor,
  b: tf.Tensor,
  h0: tf.Tensor,
): { output: tf.Tensor; state: tf.Tensor } | undefined {
  const backend = tf.getBackend();
  if (
    tf.getKernel(LINEAR_SCAN, backend) === undefined ||
    tf.getKernel(LINEAR_SCAN_GRAD, backend) === undefined
  ) {
    return undefined;
  }
  const same = a.shape.every((d, i) => d === b.shape[i]);
  const inputs: LinearScanInputs<tf.Tensor> = { a: same ? a : tf.add(a, tf.zerosLike(b)), b, h0 };
  const [output, state] = tf
    .engine()
    .runKernel(LINEAR_SCAN, inputs) as LinearScanOutputs<tf.Tensor>;
  return { output, state };
}
