// Mamba's selective scan (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective
// State Spaces", Alg. 2, S6; eq. 4 zero-order hold Ā = exp(ΔA), B̄x ≈ ΔBx as the reference code):
//   h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t x_t) B_t,   y_t = C_t h_t + D ⊙ x_t,
// one [N] state per channel, without materialising the [batch, time, E, N] decays, inputs and
// states. @attnkit/attention's selectiveScan (the mamba mixer's scan) runs it;
// @attnkit/backend-native implements it.

/**
 * Forward kernel: inputs SelectiveScanInputs, no attrs, outputs SelectiveScanOutputs.
 */
export const SELECTIVE_SCAN = 'AttnkitSelectiveScan' as const;
/** Its gradient kernel: inputs SelectiveScanGradInputs, outputs SelectiveScanGradOutputs. */
export const SELECTIVE_SCAN_GRAD = 'AttnkitSelectiveScanGrad' as const;

/** float32. */
export type SelectiveScanInputs<T> = {
  /** `[batch, time, E]`: the input x of each channel. */
  u: T;
  /** `[batch, time, E]`: the step size Δ (after its softplus). */
  delta: T;
  /** `[E, N]`: the state matrix A (diagonal per channel; Mamba's -exp(A_log)). */
  a: T;
  /** `[batch, time, N]`: B_t. */
  b: T;
  /** `[batch, time, N]`: C_t. */
  c: T;
  /** `[E]`: the skip D. */
  d: T;
  /** `[batch, E, N]`: the state before the first step. */
  h0: T;
};

/** No attributes. */
export type SelectiveScanAttrs = Record<string, never>;

/** `[y [batch, time, E], last [batch, E, N]]`: the outputs and the state after the last step. */
export type SelectiveScanOutputs<T> = [y: T, last: T];

/** The forward's inputs and the gradients of its two outputs. */
export type SelectiveScanGradInputs<T> = SelectiveScanInputs<T> & { dy: T; dLast: T };

/** Gradients of u, delta, a, b, c, d and h0, shaped as they are. */
export type SelectiveScanGradOutputs<T> = [du: T, dDelta: T, da: T, db: T, dc: T, dd: T, dh0: T];
