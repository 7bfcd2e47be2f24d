// The linear recurrence h_t = a_t ⊙ h_{t-1} + b_t over time (Martin & Cundy 2018;
// Blelloch 1990 for the parallel scan), the core of SSMs, EMAs and gated linear RNNs.
// @attnkit/attention's linearRecurrence ('chunk' form) runs it; @attnkit/backend-native
// implements it.

/**
 * Forward kernel: inputs LinearScanInputs, attrs LinearScanAttrs, outputs LinearScanOutputs.
 */
export const LINEAR_SCAN = 'AttnkitLinearScan' as const;
/** Its gradient kernel: inputs LinearScanGradInputs, outputs LinearScanGradOutputs. */
export const LINEAR_SCAN_GRAD = 'AttnkitLinearScanGrad' as const;

/** float32; a and b of one shape (the caller broadcasts). */
export type LinearScanInputs<T> = {
  /** `[batch, time, ...channels]`: the decay of each step (any real value). */
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

/** The forward's a, h0 and h, and the gradients of h and last. */
export type LinearScanGradInputs<T> = {
  a: T;
  h0: T;
  h: T;
  dh: T;
  dLast: T;
};

/** Gradients of a, b and h0, shaped as they are. */
export type LinearScanGradOutputs<T> = [da: T, db: T, dh0: T];
