// RESERVED, not yet implemented by any backend: the contract may still change before one does.
// Block-sparse attention: each block of queries attends only to the key blocks selected for it
// (MoBA, Lu et al. 2025; the selection branch of NSA, Yuan et al. 2025), computing
// only those blocks (block-sparse FlashAttention, Dao et al. 2022, sec. 3.3).

/**
 * Reserved, no backend implements it yet. Kernel name: inputs BlockSparseAttentionInputs, attrs
 * BlockSparseAttentionAttrs, outputs BlockSparseAttentionOutputs.
 */
export const BLOCK_SPARSE_ATTENTION = 'AttnkitBlockSparseAttention' as const;

/** float32 heads, grouped-query as in fused attention; `selected` int32. */
export type BlockSparseAttentionInputs<T> = {
  /** `[batch, heads, tq, d]`. */
  q: T;
  /** `[batch, kvHeads, tk, d]`. */
  k: T;
  /** `[batch, kvHeads, tk, dv]`. */
  v: T;
  /**
   * `[batch, heads, nqb, kPerBlock]` int32, nqb = ⌈tq / blockSize⌉: the key blocks (indices in
   * [0, ⌈tk / blockSize⌉), each at most once per row) each query block reads; -1 = empty slot.
   */
  selected: T;
};

export type BlockSparseAttentionAttrs = {
  /** Queries and keys per block, > 0. */
  blockSize: number;
  /** Also mask key j from query i when j > i + tk - tq (queries are the last tq positions). */
  causal: boolean;
  /** Logit multiplier, > 0. */
  scale: number;
};

/** `[output [batch, heads, tq, dv], logSumExp [batch, heads, tq]]`, as fused attention. */
export type BlockSparseAttentionOutputs<T> = [output: T, logSumExp: T];
