// Fused scaled dot-product attention (Vaswani et al. 2017, eq. 1) as one kernel with an online
// softmax (FlashAttention, Dao et al. 2022, Alg. 1 and 2): @attnkit/attention's
// scaledDotProductAttention runs it when the active backend registers it and the call needs
// only a scale and masks by position; @attnkit/backend-native implements it.

/**
 * Forward kernel: inputs FusedAttentionInputs, attrs FusedAttentionAttrs, outputs
 * FusedAttentionOutputs.
 */
export const FUSED_ATTENTION = 'AttnkitFusedAttention' as const;
/**
 * Its gradient kernel: inputs FusedAttentionGradInputs, same attrs, outputs
 * FusedAttentionGradOutputs.
 */
export const FUSED_ATTENTION_GRAD = 'AttnkitFusedAttentionGrad' as const;

/**
 * float32 heads; query head h reads key/value head ⌊h / (heads / kvHeads)⌋ (grouped-query). `T` is
 * the caller's tensor type (tf.Tensor for runKernel, tf.TensorInfo inside a kernel).
 */
export type FusedAttentionInputs<T> = {
  /** `[batch, heads, tq, d]`. */
  q: T;
  /** `[batch, kvHeads, tk, d]`, kvHeads dividing heads. */
  k: T;
  /** `[batch, kvHeads, tk, dv]`. */
  v: T;
  /**
   * Optional `[batch, heads, tq]` float32: rows at 0 are not computed; their output is 0 and
   * their log-sum-exp -Infinity, and the gradient kernel (given the same mask) skips them.
   */
  rowMask?: T;
};

export type FusedAttentionAttrs = {
  /** Logit multiplier, > 0. */
  scale: number;
  /** Key j visible to query i only when keyPositions[j] <= queryPositions[i]. */
  causal: boolean;
  /** > 0: also queryPositions[i] - keyPositions[j] < window (implies causal); 0: no window. */
  window: number;
  /** tq int32 positions of the queries. */
  queryPositions: number[];
  /** tk int32 positions of the keys. */
  keyPositions: number[];
};

/** `[output [batch, heads, tq, dv], logSumExp [batch, heads, tq]]` (natural log, per query). */
export type FusedAttentionOutputs<T> = [output: T, logSumExp: T];

/** The forward's inputs and outputs; `dout` is the gradient of `out`, shaped like it. */
export type FusedAttentionGradInputs<T> = FusedAttentionInputs<T> & {
  out: T;
  lse: T;
  dout: T;
};

/** Gradients of q, k and v, shaped as they are. */
export type FusedAttentionGradOutputs<T> = [dq: T, dk: T, dv: T];
