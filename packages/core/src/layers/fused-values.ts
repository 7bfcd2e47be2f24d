import type * as tf from '@tensorflow/tfjs-core';

/**
 * A weight's values for a fused decoder's spec, in place where the backend stores float32
 * as a Float32Array (cpu, native), copied otherwise. Internal: not exported from the package.
 */
export function fusedValues(t: tf.Tensor): Float32Array {
  const v = t.dataSync();
  return v instanceof Float32Array ? v : Float32Array.from(v);
}
