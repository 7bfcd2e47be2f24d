// Row norms over the last axis with their gain (and bias) as one kernel each, forward and
// backward: RMSNorm (Zhang & Sennrich 2019, eq. 4) and LayerNorm (Ba et al. 2016, eq. 4).
// @attnkit/core's rmsNorm / layerNorm (and the RMSNorm, LayerNorm and QK-norm modules) run them;
// @attnkit/backend-native implements them. Each replaces about 6 forward and 15 backward kernels.

/** Forward kernel: inputs RMSNormInputs, attrs NormAttrs, outputs NormOutputs. */
export const RMS_NORM = 'AttnkitRMSNorm' as const;
/** Its gradient kernel: inputs RMSNormGradInputs, attrs NormAttrs, outputs RMSNormGradOutputs. */
export const RMS_NORM_GRAD = 'AttnkitRMSNormGrad' as const;
/** Forward kernel: inputs LayerNormInputs, attrs NormAttrs, outputs NormOutputs. */
export const LAYER_NORM = 'AttnkitLayerNorm' as const;
/** Its gradient kernel: inputs LayerNormGradInputs, attrs NormAttrs, outputs LayerNormGradOutputs. */
export const LAYER_NORM_GRAD = 'AttnkitLayerNormGrad' as const;

/** float32; ones for a norm without gain (every input is required). */
export type RMSNormInputs<T> = {
  /** `[...rows, dim]`, dim >= 1: normalised over the last axis. */
  x: T;
  /** `[dim]`: the gain. */
  weight: T;
};

/** y = x / sqrt(mean(x²) + eps) · weight; LayerNorm: (x - mean) / sqrt(var + eps) · weight + bias. */
export type NormAttrs = {
  /** Added to the mean square (RMSNorm) or the biased variance (LayerNorm); finite and >= 0. */
  eps: number;
};

/** `[y]`, shaped as x. The backward recomputes each row's statistics: none is saved. */
export type NormOutputs<T> = [y: T];

/** The forward's inputs and the gradient of y. */
export type RMSNormGradInputs<T> = RMSNormInputs<T> & { dy: T };

/** Gradients of x and weight. */
export type RMSNormGradOutputs<T> = [dx: T, dWeight: T];

/** float32; ones and zeros for a norm without gain or bias. */
export type LayerNormInputs<T> = RMSNormInputs<T> & {
  /** `[dim]`: the bias. */
  bias: T;
};

/** The forward's x and weight, and the gradient of y (the bias does not enter the backward). */
export type LayerNormGradInputs<T> = RMSNormInputs<T> & { dy: T };

/** Gradients of x, weight and bias. */
export type LayerNormGradOutputs<T> = [dx: T, dWeight: T, dBias: T];
