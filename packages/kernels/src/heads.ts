// Splitting a projection into attention heads, and merging them back, as one kernel each, with
// the rotary embedding (Su et al., RoFormer, eq. 34) folded into the split when the positional
// encoding rotates. The composite is a reshape, a transpose and a rotation (three kernels, and a
// saved copy of the reshape's input); each is the other's gradient. @attnkit/core's
// splitHeadsKernel / mergeHeadsKernel (run by @attnkit/attention's projected mixers) call them;
// @attnkit/backend-native implements them.

/** x `[batch, time, heads·headDim]` → `[y]` `[batch, heads, time, headDim]`, rotated. */
export const SPLIT_HEADS = 'AttnkitSplitHeads' as const;
/** x `[batch, heads, time, headDim]` → `[y]` `[batch, time, heads·headDim]`, rotated back. */
export const MERGE_HEADS = 'AttnkitMergeHeads' as const;

/** float32. */
export type HeadsInputs<T> = { x: T };

/**
 * The same attrs for both kernels and their gradients (SPLIT_HEADS's gradient is MERGE_HEADS
 * with these attrs, and the other way round).
 */
export type HeadsAttrs = {
  heads: number;
  /**
   * θ_i, i < rotaryDim / 2 (rotaryDim = 2 · length <= headDim), as RotaryAttrs; empty: no
   * rotation. Split turns pair i at time step t by positions[t] · θ_i, merge by the opposite.
   */
  inverseFrequencies: number[];
  /** One position per time step when rotating (float32 angles, as ROTARY); else empty. */
  positions: number[];
  /** As RotaryAttrs' layout. */
  layout: 'half' | 'interleaved';
};

/** `[y]`. */
export type HeadsOutputs<T> = [y: T];
