import * as tf from '@tensorflow/tfjs-core';

/**
 * A backend may register this kernel to run one AdamW update in one call (contract 7:
 * @attnkit/backend-native does): inputs { param, m, v, grad }, attrs { lr, beta1, beta2,
 * epsilon, weightDecay, step }, outputs [param, m, v], the same values as AdamW.step's ops.
 */
export const ADAMW_KERNEL = 'AttnkitAdamW';

export interface AdamWKernelAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  step: number;
}

/** Updates p, m and v with the backend's fused kernel; false when it has none (use the ops). */
export function adamwKernelStep(
  p: tf.Variable,
  m: tf.Variable,
  v: tf.Variable,
  grad: tf.Tensor,
  attrs: AdamWKernelAttrs,
): boolean {
  if (p.dtype !== 'float32' || grad.dtype !== 'float32') return false;
  if (tf.getKernel(ADAMW_KERNEL, tf.getBackend()) === undefined) return false;
  tf.tidy(() => {
    const [p1, m1, v1] = tf
      .engine()
      .runKernel(
        ADAMW_KERNEL,
        { param: p, m, v, grad },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    m.assign(m1!);
    v.assign(v1!);
    p.assign(p1!);
  });
  return true;
}
