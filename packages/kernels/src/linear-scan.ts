// RESERVED, not yet implemented by any backend: the contract may still change before one does.
// The linear recurrence h_t = a_t ⊙ h_{t-1} + b_t over time (Martin & Cundy 2018;
// Blelloch 1990 for the parallel scan), the core of SSMs, EMAs and gated linear RNNs.

/**
 * Reserved, no backend implements it yet. Kernel name: inputs LinearScanInputs, attrs
 * LinearScanAttrs, outputs LinearScanOutputs.
 */
export const LINEAR_SCAN = 'AttnkitLinearScan' as const;

/** float32. */
export type LinearScanInputs<T> = {
  /** `[batch, time, ...channels]`: the decay of each step. */
  a: T;
  /** `[batch, time, ...channels]`: the input of each step. */
  b: T;
  /** `[batch, ...channels]`: the state before the first step. */
  h0: T;
};

/** No attributes. */
export type LinearScanAttrs = Record<string, never>;

/** `[h [batch, time, ...channels], last [batch, ...channels]]`: every state, and the final one. */
export type LinearScanOutputs<T> = [h: T, last: T];
