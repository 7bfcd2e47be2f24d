// Block-sparse attention: each block of queries attends only to the key blocks selected for it
// (MoBA, Lu et al. 2025, sec. 2.2, eq. 2; the selection branch of NSA, Yuan et al. 2025),
// computing only those blocks (block-sparse FlashAttention, Dao et al. 2022, sec. 3.3).
// @attnkit/attention's blockSparseAttention runs it; @attnkit/backend-native implements it.

/**
 * Forward kernel: inputs BlockSparseAttentionInputs, attrs BlockSparseAttentionAttrs, outputs
 * BlockSparseAttentionOutputs.
 */
export const BLOCK_SPARSE_ATTENTION = 'AttnkitBlockSparseAttention' as const;
/**
 * Its gradient kernel: inputs BlockSparseAttentionGradInputs, same attrs, outputs
 * BlockSparseAttentionGradOutputs.
 */
export const BLOCK_SPARSE_ATTENTION_GRAD = 'AttnkitBlockSparseAttentionGrad' as const;

/**
 * float32 heads, grouped-query as in fused attention (heads a multiple of kvHeads; query head
 * h reads kv head ⌊h / (heads / kvHeads)⌋); `selected` int32. Every input present.
 */
export type BlockSparseAttentionInputs<T> = {
  /** `[batch, heads, tq, d]`. */
  q: T;
  /** `[batch, kvHeads, tk, d]`. */
  k: T;
  /** `[batch, kvHeads, tk, dv]`. */
  v: T;
  /**
   * `[batch, heads, nqb, kPerBlock]` int32, kPerBlock >= 1: the key blocks each query block
   * reads. Query i sits at position queryOffset + i and belongs to absolute block
   * ⌊position / blockSize⌋; row r of the third axis is absolute block ⌊queryOffset / blockSize⌋
   * + r, so nqb = ⌊(queryOffset + tq - 1) / blockSize⌋ - ⌊queryOffset / blockSize⌋ + 1. Key
   * block j holds keys [j·blockSize, (j+1)·blockSize) ∩ [0, tk) (the last may be ragged). An
   * index is -1 (empty slot) or in [0, ⌈tk / blockSize⌉); a repeated index counts once; any
   * other index is an error, never a read.
   */
  selected: T;
};

export type BlockSparseAttentionAttrs = {
  /** Queries and keys per block, an integer >= 1. */
  blockSize: number;
  /** Also hide key j from the query at position p when j > p. */
  causal: boolean;
  /** Logit multiplier, finite and > 0. */
  scale: number;
  /** Position of the first query, an integer >= 0 (tk - tq: end-aligned, as sdpa). */
  queryOffset: number;
};

/**
 * `[output [batch, heads, tq, dv], logSumExp [batch, heads, tq]]`: a query that sees no key
 * gets output 0 and logSumExp -Infinity.
 */
export type BlockSparseAttentionOutputs<T> = [output: T, logSumExp: T];

/**
 * The forward's inputs, its outputs and their gradients (dLogSumExp zeros when only the output
 * is used).
 */
export type BlockSparseAttentionGradInputs<T> = BlockSparseAttentionInputs<T> & {
  output: T;
  logSumExp: T;
  dOutput: T;
  dLogSumExp: T;
};

/** Gradients of q, k and v, shaped as they are (`selected` is data, not differentiated). */
export type BlockSparseAttentionGradOutputs<T> = [dq: T, dk: T, dv: T];
