// The fused softmax cross-entropy kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; its name, inputs and outputs are @attnkit/kernels' contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  type CrossEntropyAttrs,
  type CrossEntropyInputs,
  type CrossEntropyOutputs,
} from '@attnkit/kernels';

/**
 * -log softmax(logits)[target] of every row ([batch·time]) as the backend's kernel (with its
 * gradient kernel), or undefined. A target outside the vocabulary gives 0, as the composite's
 * one-hot row of zeros does. Call inside a tidy.
 */
export function crossEntropyRows(
  logits: tf.Tensor3D,
  targets: tf.Tensor2D,
): tf.Tensor1D | undefined {
  const backend = tf.getBackend();
  const vocab = logits.shape[2];
  if (
    tf.getKernel(SOFTMAX_CROSS_ENTROPY, backend) === undefined ||
    tf.getKernel(SOFTMAX_CROSS_ENTROPY_GRAD, backend) === undefined ||
    logits.dtype !== 'float32' ||
    targets.dtype !== 'int32' ||
    vocab < 2 || // the composite's oneHot refuses a vocabulary of 1: so does this path
    logits.size === 0 ||
    logits.shape[0] * logits.shape[1] !== targets.size
  ) {
    return undefined;
  }
  const inputs: CrossEntropyInputs<tf.Tensor> = {
    logits: tf.reshape(logits, [-1, vocab]),
    labels: tf.reshape(targets, [-1]),
  };
  const attrs: CrossEntropyAttrs = { ignoreIndex: -1 };
  const [loss] = tf
    .engine()
    .runKernel(SOFTMAX_CROSS_ENTROPY, inputs, attrs) as CrossEntropyOutputs<tf.Tensor>;
  return loss as tf.Tensor1D;
}
