// The fused dense kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; names, inputs and outputs are @attnkit/kernels' DENSE.
import * as tf from '@tensorflow/tfjs-core';
import { hasKernelPair } from '../ops/has-kernel-pair';
import {
  DENSE,
  DENSE_GRAD,
  type DenseAttrs,
  type DenseInputs,
  type DenseOutputs,
} from '@attnkit/kernels';

/**
 * x · weight (+ bias) over x's last axis as the active backend's kernel (with its gradient
 * kernel) when it has one; undefined otherwise. The caller has checked x's last axis.
 */
export function denseKernel(
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor | null,
): tf.Tensor | undefined {
  if (!hasKernelPair(DENSE, DENSE_GRAD) || x.dtype !== 'float32' || weight.dtype !== 'float32')
    return undefined;
  const inputs: DenseInputs<tf.Tensor> = bias ? { x, weight, bias } : { x, weight };
  const attrs: DenseAttrs = { withBias: bias !== null };
  const [y] = tf.engine().runKernel(DENSE, inputs, attrs) as DenseOutputs<tf.Tensor>;
  return y;
}
