import type * as tf from '@tensorflow/tfjs-core';

/**
 * A norm that can also take a pre-norm block's residual add: `addAndNorm(x, residual)` returns
 * [sum, norm(sum)] with sum = x + residual, as one kernel each way where the backend has it
 * (`AttnkitAddRMSNorm` / `AttnkitAddLayerNorm`). RMSNorm and LayerNorm implement it.
 */
export interface ResidualNorm {
  addAndNorm(x: tf.Tensor, residual: tf.Tensor): [tf.Tensor, tf.Tensor];
}

/** Whether a module implements ResidualNorm. */
export function isResidualNorm(m: unknown): m is ResidualNorm {
  return typeof (m as Partial<ResidualNorm> | null)?.addAndNorm === 'function';
}
