// Chunked linear attention with a scalar decay per step: Katharopoulos et al. 2020, sec. 3.2
// (and 3.2.1 for causal); the chunkwise form of Hua et al. 2022 (FLASH) and Yang et al. 2023
// (GLA, sec. 2.2, scalar gate); the decay as in Sun et al. 2023 (RetNet) or Dao & Gu 2024
// (Mamba-2). Within a chunk the quadratic form, across chunks the running state
// S_t = exp(g_t) S_{t-1} + k_tᵀ v_t, out_t = scale · q_t S_t. @attnkit/attention's
// linearAttention ('chunk' form, scalar or no gate) runs it; @attnkit/backend-native implements it.

/**
 * Forward kernel: inputs ChunkedLinearAttentionInputs, attrs ChunkedLinearAttentionAttrs,
 * outputs ChunkedLinearAttentionOutputs.
 */
export const CHUNKED_LINEAR_ATTENTION = 'AttnkitChunkedLinearAttention' as const;
/**
 * Its gradient kernel: inputs ChunkedLinearAttentionGradInputs, same attrs, outputs
 * ChunkedLinearAttentionGradOutputs.
 */
export const CHUNKED_LINEAR_ATTENTION_GRAD = 'AttnkitChunkedLinearAttentionGrad' as const;

/**
 * float32, every input present (tfjs saves a kernel's inputs for its gradient by name); q and k
 * already feature-mapped (the kernel applies no feature map).
 */
export type ChunkedLinearAttentionInputs<T> = {
  /** `[batch, heads, time, dk]`. */
  q: T;
  /** `[batch, heads, time, dk]`. */
  k: T;
  /** `[batch, heads, time, dv]`. */
  v: T;
  /**
   * `[batch, heads, time]`: log of the state's decay at each step, g_t = log λ_t <= 0 (log space:
   * a decay that underflows to 0 stays exact); zeros: no decay. Zeros when `causal` is false.
   */
  logDecay: T;
  /** `[batch, heads, dk, dv]`: the state before the first step; zeros when `causal` is false. */
  kv0: T;
  /** `[batch, heads, dk]`: the key sum before the first step (read with `normalize` only). */
  kSum0: T;
};

export type ChunkedLinearAttentionAttrs = {
  /**
   * Steps per chunk, an integer >= 1; the last chunk may be shorter. A backend may use smaller
   * chunks (backend-native: at most 1024): the result is the same up to rounding.
   */
  chunkSize: number;
  /** Multiplier of q·k, finite. */
  scale: number;
  /** Step t reads steps <= t only; false: every step reads the whole sequence. */
  causal: boolean;
  /**
   * Divide each output by scale · q_t·z_t + eps, z_t the (decayed) sum of the keys it reads
   * (eq. 5's denominator).
   */
  normalize: boolean;
  /** Added to the denominator when normalising, >= 0. */
  eps: number;
};

/**
 * `[output [batch, heads, time, dv], kv [batch, heads, dk, dv], kSum [batch, heads, dk]]`: the
 * state after the last step (kSum zeros without `normalize`).
 */
export type ChunkedLinearAttentionOutputs<T> = [output: T, kv: T, kSum: T];

/** The forward's inputs and the gradients of its three outputs. */
export type ChunkedLinearAttentionGradInputs<T> = ChunkedLinearAttentionInputs<T> & {
  dOutput: T;
  dKv: T;
  dKSum: T;
};

/** Gradients of q, k, v, logDecay, kv0 and kSum0, shaped as they are. */
export type ChunkedLinearAttentionGradOutputs<T> = [
  dq: T,
  dk: T,
  dv: T,
  dLogDecay: T,
  dKv0: T,
  dKSum0: T,
];
