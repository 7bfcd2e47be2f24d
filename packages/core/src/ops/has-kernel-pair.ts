import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether the active backend registers a fused kernel and its gradient kernel (architecture
 * contract 7): the ops that use one take their composite otherwise.
 */
export function hasKernelPair(forward: string, grad: string): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(forward, backend) !== undefined && tf.getKernel(grad, backend) !== undefined;
}
