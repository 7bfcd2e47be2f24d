// One AdamW update of a parameter in one kernel (Loshchilov & Hutter 2019, Alg. 2) instead of
// about sixteen elementwise ones: @attnkit/models' AdamW.step runs it when the active backend
// registers it; @attnkit/backend-native implements it, and models' patchWasmKernels adds it to
// the wasm backend. Its values equal AdamW.step's float32 ops.

/** Kernel name: inputs AdamWInputs, attrs AdamWAttrs, outputs AdamWOutputs. */
export const ADAMW = 'AttnkitAdamW' as const;

/** float32 tensors of the parameter's shape. */
export type AdamWInputs<T> = {
  param: T;
  /** First moment. */
  m: T;
  /** Second moment. */
  v: T;
  grad: T;
};

export type AdamWAttrs = {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled decay (param · weightDecay added to the update); 0 for parameters without decay. */
  weightDecay: number;
  /** 1-based step count, for the bias corrections 1 - beta^step. */
  step: number;
  /**
   * Multiplies the gradient first (float32 g · gradScale, as a tf.mul would): a global-norm
   * clip without a scaled copy of every gradient. Absent: 1.
   */
  gradScale?: number;
};

/** The updated parameter and moments, in this order. */
export type AdamWOutputs<T> = [param: T, m: T, v: T];
