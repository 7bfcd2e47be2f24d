// Σ x² over every element of a list of tensors as one kernel: the squared global norm of a
// model's gradients, which gradient clipping reads once per step. The composite is a square and
// a sum per tensor and an addN (two kernels per parameter and their temporaries: 41 kernels for
// llama-tiny's 20 parameters). @attnkit/models' globalNorm runs it; backend-native implements it.

/** Kernel name: inputs SumOfSquaresInputs, no attrs, outputs SumOfSquaresOutputs. No gradient. */
export const SUM_OF_SQUARES = 'AttnkitSumOfSquares' as const;

/** float32 tensors of any shapes (passed as runKernel's inputs in list order, as AddN's). */
export type SumOfSquaresInputs<T> = T[];

/** `[total]`: a float32 scalar (a backend may accumulate in higher precision). */
export type SumOfSquaresOutputs<T> = [total: T];
