import type * as tf from '@tensorflow/tfjs-core';

/** Which algorithm computes the same delta rule (see index.ts). */
export type DeltaRuleForm = 'chunk' | 'recurrent';

export interface DeltaRuleOptions {
  /** Default 'chunk' (WY form, for training); 'recurrent' steps token by token (decoding). */
  form?: DeltaRuleForm;
  /** Tokens per chunk of the chunk form; default 64. */
  chunkSize?: number;
  /** Multiplies q; default 1/√dk (flash-linear-attention's default). */
  scale?: number;
  /**
   * Log forget gate log α_t <= 0, [batch, heads, time] (Gated DeltaNet): S_t = α_t (I − β_t k_t
   * k_tᵀ) S_{t-1} + β_t k_t v_tᵀ. Log space, as `linearAttention`'s gate: the chunk form only
   * takes differences of its cumulative sums, so nothing is divided by a vanishing product.
   */
  gate?: tf.Tensor3D;
  /** S after the preceding tokens, [batch, heads, dk, dv]; zeros when absent. */
  initialState?: tf.Tensor4D;
  /** Check that the gate is <= 0 (one read-back from the backend); default true. */
  checkValues?: boolean;
}

export interface DeltaRuleResult {
  /** o_t = scale · S_tᵀ q_t, [batch, heads, time, dv]. */
  output: tf.Tensor4D;
  /** S after the last token, [batch, heads, dk, dv]: pass it as `initialState` to continue. */
  state: tf.Tensor4D;
}

/**
 * What every form computes once q is scaled and the gate resolved (g = null: α = 1). A native
 * kernel of the same signature can stand in for a form.
 */
export type DeltaCore = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  beta: tf.Tensor3D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
  chunkSize: number,
) => { output: tf.Tensor4D; state: tf.Tensor4D };
