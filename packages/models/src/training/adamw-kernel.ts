// AdamW.step's fused path: one call of the backend's AttnkitAdamW kernel (architecture contract
// 7; name, inputs, attrs and outputs are @attnkit/kernels' ADAMW contract), same values.
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW, type AdamWAttrs, type AdamWInputs, type AdamWOutputs } from '@attnkit/kernels';

/** Updates p, m and v with the backend's fused kernel; false when it has none (use the ops). */
export function adamwKernelStep(
  p: tf.Variable,
  m: tf.Variable,
  v: tf.Variable,
  grad: tf.Tensor,
  attrs: AdamWAttrs,
): boolean {
  if (p.dtype !== 'float32' || grad.dtype !== 'float32') return false;
  if (tf.getKernel(ADAMW, tf.getBackend()) === undefined) return false;
  const inputs: AdamWInputs<tf.Tensor> = { param: p, m, v, grad };
  tf.tidy(() => {
    const [p1, m1, v1] = tf.engine().runKernel(ADAMW, inputs, attrs) as AdamWOutputs<tf.Tensor>;
    m.assign(m1);
    v.assign(v1);
    p.assign(p1);
  });
  return true;
}
