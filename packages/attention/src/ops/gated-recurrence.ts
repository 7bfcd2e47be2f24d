// The GATED_RECURRENCE kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native: the recurrent form of gated linear attention and of the (gated)
// delta rule in one call, gradient included. Names and shapes are @attnkit/kernels' contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  GATED_RECURRENCE,
  GATED_RECURRENCE_GRAD,
  type GatedRecurrenceAttrs,
  type GatedRecurrenceInputs,
  type GatedRecurrenceOutputs,
} from '@attnkit/kernels';

export interface GatedRecurrenceArgs {
  /** Log decay [b, h, t] (one per step) or [b, h, t, dk] (one per key dimension); null: none. */
  logDecay: tf.Tensor | null;
  /** The delta rule's β [b, h, t]; absent: the plain write S += k vᵀ. */
  beta?: tf.Tensor3D;
  /** S before the first step [b, h, dk, dv]; null: zeros. */
  s0: tf.Tensor4D | null;
}

/** Whether the active backend registers the GATED_RECURRENCE kernel and its gradient. */
export function hasGatedRecurrenceKernel(): boolean {
  const backend = tf.getBackend();
  return (
    tf.getKernel(GATED_RECURRENCE, backend) !== undefined &&
    tf.getKernel(GATED_RECURRENCE_GRAD, backend) !== undefined
  );
}

/**
 * Runs S_t = diag(exp(g_t)) S_{t-1} + k_t u_tᵀ, out_t = S_tᵀ q_t (u_t = β_t (v_t − S'ᵀ k_t) with
 * `beta`, else v_t) as the active backend's kernel, or returns undefined when it has none (the
 * caller then runs its composite form, which computes the same thing). q comes scaled.
 */
export function gatedRecurrenceKernel(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  args: GatedRecurrenceArgs,
): { output: tf.Tensor4D; state: tf.Tensor4D } | undefined {
  if (!hasGatedRecurrenceKernel()) return undefined;
  const [b, h, t, dk] = q.shape;
  const dv = v.shape[3];
  const [output, state] = tf.tidy(() => {
    const g = args.logDecay;
    const inputs: GatedRecurrenceInputs<tf.Tensor> = {
      q,
      k,
      v,
      beta: args.beta ?? tf.zeros([b, h, t]),
      logDecay: g ? (g.rank === 3 ? tf.expandDims(g, 3) : g) : tf.zeros([b, h, t, 1]),
      s0: args.s0 ?? tf.zeros([b, h, dk, dv]),
    };
    const attrs: GatedRecurrenceAttrs = { scale: 1, delta: args.beta !== undefined };
    return tf
      .engine()
      .runKernel(GATED_RECURRENCE, inputs, attrs) as GatedRecurrenceOutputs<tf.Tensor>;
  });
  return { output: output as tf.Tensor4D, state: state as tf.Tensor4D };
}
