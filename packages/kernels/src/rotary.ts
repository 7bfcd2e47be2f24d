// Rotary position embedding applied to queries or keys (Su et al., RoFormer, eq. 34), forward
// and backward as one kernel each: the backward is the rotation by the opposite angle.
// @attnkit/core's rotaryKernel (called by @attnkit/positional's rotary) runs it;
// @attnkit/backend-native implements it.

/** Forward kernel: inputs RotaryInputs, attrs RotaryAttrs, outputs RotaryOutputs. */
export const ROTARY = 'AttnkitRotary' as const;
/** Its gradient kernel: inputs RotaryGradInputs, same attrs, outputs RotaryGradOutputs. */
export const ROTARY_GRAD = 'AttnkitRotaryGrad' as const;

export type RotaryInputs<T> = {
  /** float32 `[batch, heads, time, headDim]`. */
  x: T;
  /** float32 `[time]`: the absolute position m of each step (data: no gradient). */
  positions: T;
};

export type RotaryAttrs = {
  /**
   * θ_i, i < rotaryDim / 2 (rotaryDim = 2 · length <= headDim): pair i turns by the float32
   * angle m · θ_i; channels from rotaryDim on pass through.
   */
  inverseFrequencies: number[];
  /** 'half' pairs channel i with i + rotaryDim/2 (GPT-NeoX, LLaMA); 'interleaved' 2i with 2i+1. */
  layout: 'half' | 'interleaved';
};

/** `[y]`, shaped as x. */
export type RotaryOutputs<T> = [y: T];

/** The gradient of y and the forward's positions. */
export type RotaryGradInputs<T> = { dy: T; positions: T };

/** `[dx]`: dy rotated by the opposite angles. */
export type RotaryGradOutputs<T> = [dx: T];
