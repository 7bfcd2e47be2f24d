// The gate of a GLU feed-forward, act(gate) ⊙ up (Shazeer 2020, eqs. 5-6: SwiGLU, GEGLU, ReGLU),
// forward and backward as one kernel each instead of the activation's and the product's.
// @attnkit/core's GLU runs it; @attnkit/backend-native implements it.

/** Forward kernel: inputs GatedActivationInputs, attrs GatedActivationAttrs, outputs GatedActivationOutputs. */
export const GATED_ACTIVATION = 'AttnkitGatedActivation' as const;
/** Its gradient kernel: inputs GatedActivationGradInputs, same attrs, outputs GatedActivationGradOutputs. */
export const GATED_ACTIVATION_GRAD = 'AttnkitGatedActivationGrad' as const;

/** The activations of the kernel, by @attnkit/core's activation names. */
export const GATED_ACTIVATIONS = ['silu', 'gelu', 'gelu-tanh', 'relu'] as const;
export type GatedActivationName = (typeof GATED_ACTIVATIONS)[number];

/** float32 tensors of one shape (the caller broadcasts). */
export type GatedActivationInputs<T> = {
  gate: T;
  up: T;
};

export type GatedActivationAttrs = {
  /**
   * silu: x·σ(x); gelu: x·Φ(x) (exact, erf); gelu-tanh: its tanh approximation; relu:
   * max(x, 0), whose gradient at 0 is 0.
   */
  activation: GatedActivationName;
};

/** `[y]`: act(gate) ⊙ up. */
export type GatedActivationOutputs<T> = [y: T];

/** The forward's inputs and the gradient of y. */
export type GatedActivationGradInputs<T> = GatedActivationInputs<T> & { dy: T };

/** `[dGate, dUp]`: dy ⊙ up ⊙ act'(gate) and dy ⊙ act(gate). */
export type GatedActivationGradOutputs<T> = [dGate: T, dUp: T];
