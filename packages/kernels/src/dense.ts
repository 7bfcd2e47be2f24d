// A dense (affine) layer, y = x · W + b over the last axis of x of any rank, as one kernel
// forward and one backward. The composite (reshape to rows, matMul, add, reshape back, and the
// gradients of each) is 3 forward and 4 backward kernels plus a saved copy per reshape; at
// llama-tiny's size that dispatch costs as much as the products. @attnkit/core's Linear runs
// it; @attnkit/backend-native implements it.

/** Forward kernel: inputs DenseInputs, attrs DenseAttrs, outputs DenseOutputs. */
export const DENSE = 'AttnkitDense' as const;
/** Its gradient kernel: inputs DenseGradInputs, same attrs, outputs DenseGradOutputs. */
export const DENSE_GRAD = 'AttnkitDenseGrad' as const;

/** float32. */
export type DenseInputs<T> = {
  /** `[...rows, in]`, rank >= 1. */
  x: T;
  /** `[in, out]`. */
  weight: T;
  /** `[out]`, present exactly when attrs.withBias. */
  bias?: T;
};

export type DenseAttrs = {
  /** Whether a bias is added (and its gradient returned). */
  withBias: boolean;
};

/** `[y]`, `[...rows, out]`. */
export type DenseOutputs<T> = [y: T];

/** The forward's x and weight (the bias does not enter the backward), and the gradient of y. */
export type DenseGradInputs<T> = {
  x: T;
  weight: T;
  /** `[...rows, out]`. */
  dy: T;
};

/** Gradients of x and weight, and of the bias when attrs.withBias. */
export type DenseGradOutputs<T> = [dx: T, dWeight: T] | [dx: T, dWeight: T, dBias: T];
