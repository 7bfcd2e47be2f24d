// RESERVED, not yet implemented by any backend: the contract may still change before one does.
// Chunked (optionally gated) linear attention: Katharopoulos et al. 2020, sec. 3.2 (and 3.2.1
// for causal); the chunkwise form of Hua et al. 2022 (FLASH); a decay per step as in Sun et al.
// 2023 (RetNet) or Dao & Gu 2024 (Mamba-2). Within a chunk the quadratic form, across chunks
// the running state kv_t = g_t · kv_{t-1} + k_tᵀ v_t.

/**
 * Reserved, no backend implements it yet. Kernel name: inputs ChunkedLinearAttentionInputs, attrs
 * ChunkedLinearAttentionAttrs, outputs ChunkedLinearAttentionOutputs.
 */
export const CHUNKED_LINEAR_ATTENTION = 'AttnkitChunkedLinearAttention' as const;

/** float32; q and k already feature-mapped (the kernel applies no feature map). */
export type ChunkedLinearAttentionInputs<T> = {
  /** `[batch, heads, time, dk]`. */
  q: T;
  /** `[batch, heads, time, dk]`. */
  k: T;
  /** `[batch, heads, time, dv]`. */
  v: T;
  /** `[batch, heads, time]`: the state's decay factor at each step (in (0, 1]); absent: 1. */
  gate?: T;
};

export type ChunkedLinearAttentionAttrs = {
  /** Steps per chunk, > 0; the last chunk may be shorter. */
  chunkSize: number;
  /** Multiplier of q·k, > 0. */
  scale: number;
  /** Step t reads steps <= t only; false: every step reads the whole sequence. */
  causal: boolean;
  /** Divide each output by q·Σk over the steps it reads (eq. 5's denominator). */
  normalize: boolean;
};

/**
 * `[output [batch, heads, time, dv], kv [batch, heads, dk, dv]]`: kv is the state after the last
 * step.
 */
export type ChunkedLinearAttentionOutputs<T> = [output: T, kv: T];
