import type * as tf from '@tensorflow/tfjs-core';

/** Which algorithm computes the same linear attention (see index.ts). */
export type LinearAttentionForm = 'parallel' | 'chunk' | 'recurrent';

/** The recurrent state after the last token: S_T and, with `normalize`, z_T. */
export interface LinearAttentionState {
  /** S = Σ_s (decay) k_sᵀ v_s, [batch, heads, dk, dv]. */
  kv: tf.Tensor4D;
  /** z = Σ_s (decay) k_s, [batch, heads, dk]; present when `normalize` is on. */
  kSum?: tf.Tensor3D;
}

export interface LinearAttentionOptions {
  /** Default 'chunk' (O(T·chunkSize) memory in training, any length). */
  form?: LinearAttentionForm;
  /** Tokens per chunk of the chunk form; default 64. */
  chunkSize?: number;
  /** Multiplies q; default 1. */
  scale?: number;
  /** Default true. false: every token sees every token (encoder form, no state to continue). */
  causal?: boolean;
  /** Constant per-head decay λ_h in (0, 1]: S_t = λ_h S_{t-1} + k_tᵀ v_t (RetNet, Lightning). */
  decay?: number | number[] | tf.Tensor;
  /**
   * Data-dependent log decay, <= 0: [batch, heads, time] (a scalar per step,
   * S_t = exp(g_t) S_{t-1} + k_tᵀ v_t) or [batch, heads, time, dk] (one per key dimension, GLA:
   * S_t = (exp(g_t)ᵀ 1) ⊙ S_{t-1} + k_tᵀ v_t).
   */
  gate?: tf.Tensor;
  /** Divide by q_t·z_t (Katharopoulos et al. 2020 eq. 6); default false. */
  normalize?: boolean;
  /** Added to the normaliser q_t·z_t; default 1e-6. */
  eps?: number;
  /** The state returned by the call over the preceding tokens. */
  initialState?: LinearAttentionState;
  /**
   * Check the gate's sign and a tensor decay's range (one read-back from the backend each);
   * default true. Hot loops that produce them by construction (e.g. -softplus) may turn it off.
   */
  checkValues?: boolean;
}

export interface LinearAttentionResult {
  /** [batch, heads, time, dv]. */
  output: tf.Tensor4D;
  state: LinearAttentionState;
}

/**
 * What every form computes, after scaling q, appending a column of ones to v when normalising
 * (so the key sum rides along as one more value column) and folding decay and gate into one
 * log decay g: out_t = q_t S_t, S_t = exp(g_t) S_{t-1} + k_tᵀ v_t.
 */
export type LinearCore = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
  chunkSize: number,
) => { output: tf.Tensor4D; state: tf.Tensor4D };

/** The same with a per-key-dimension log decay g [b, h, t, dk] (vector-gate.ts). */
export type LinearVectorCore = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor4D,
  s0: tf.Tensor4D | null,
  chunkSize: number,
) => { output: tf.Tensor4D; state: tf.Tensor4D };
