// A pre-norm block's residual add and the next sublayer's norm as one kernel each way:
// sum = x + residual, y = norm(sum), both returned (the residual stream goes on with sum).
// The composite is an add, the norm, and in the backward the norm's gradient, an add of the two
// gradients that reach sum and a reshape per operand. @attnkit/models' pre-norm transformer
// block runs it (through core's RMSNorm / LayerNorm `addAndNorm`); backend-native implements it.
import type { NormAttrs } from './norm';

/** Forward kernel: inputs AddRMSNormInputs, attrs NormAttrs, outputs AddNormOutputs. */
export const ADD_RMS_NORM = 'AttnkitAddRMSNorm' as const;
/** Its gradient kernel: inputs AddNormGradInputs, attrs NormAttrs, outputs AddRMSNormGradOutputs. */
export const ADD_RMS_NORM_GRAD = 'AttnkitAddRMSNormGrad' as const;
/** Forward kernel: inputs AddLayerNormInputs, attrs NormAttrs, outputs AddNormOutputs. */
export const ADD_LAYER_NORM = 'AttnkitAddLayerNorm' as const;
/** Its gradient kernel: inputs AddNormGradInputs, attrs NormAttrs, outputs AddLayerNormGradOutputs. */
export const ADD_LAYER_NORM_GRAD = 'AttnkitAddLayerNormGrad' as const;

/** float32, every input required (ones for a norm without gain). */
export type AddRMSNormInputs<T> = {
  /** `[...rows, dim]`, dim >= 1. */
  x: T;
  /** Shaped exactly as x (no broadcasting). */
  residual: T;
  /** `[dim]`: the gain. */
  weight: T;
};

/** AddRMSNormInputs and LayerNorm's bias `[dim]` (zeros for none). */
export type AddLayerNormInputs<T> = AddRMSNormInputs<T> & { bias: T };

/** Attributes: the norm's eps, as RMS_NORM / LAYER_NORM. */
export type AddNormAttrs = NormAttrs;

/** `[sum, y]`, both shaped as x: sum = x + residual, y = norm(sum) (RMS_NORM / LAYER_NORM's y). */
export type AddNormOutputs<T> = [sum: T, y: T];

/** The forward's sum and weight, and the gradients of both outputs. */
export type AddNormGradInputs<T> = {
  sum: T;
  weight: T;
  /** Gradient of y. */
  dy: T;
  /** Gradient of sum from its other readers (zeros when it has none). */
  dSum: T;
};

/**
 * dx = dResidual = dSum + the norm's input gradient (a backend may return the two as views of
 * one buffer: neither is written after the kernel returns), and the gain's gradient.
 */
export type AddRMSNormGradOutputs<T> = [dx: T, dResidual: T, dWeight: T];

/** As AddRMSNormGradOutputs, and the bias' gradient. */
export type AddLayerNormGradOutputs<T> = [dx: T, dResidual: T, dWeight: T, dBias: T];
