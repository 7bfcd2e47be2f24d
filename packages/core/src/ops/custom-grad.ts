import * as tf from '@tensorflow/tfjs-core';

export interface CustomGradResult {
  value: tf.Tensor;
  /** Gradients for each input, in order. */
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

/**
 * Typed wrapper over tf.customGrad for a fixed number of tensor inputs:
 * `forward(a, b, save)` returns the value and its gradient function.
 */
export function withCustomGradient<Inputs extends tf.Tensor[]>(
  forward: (...args: [...Inputs, tf.GradSaveFunc]) => CustomGradResult,
): (...inputs: Inputs) => tf.Tensor {
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return op as unknown as (...inputs: Inputs) => tf.Tensor;
}

/**
 * f's result as a constant to autodiff (a stop-gradient): f runs inside a custom-gradient
 * kernel, where nothing is taped, so no gradient flows back through what it read.
 */
export function offTape<T extends tf.Tensor>(f: () => T): T {
  return tf.customGrad(() => ({ value: f(), gradFunc: () => [] }))() as T;
}
