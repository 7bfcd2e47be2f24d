// Softmax cross-entropy over the vocabulary, forward and backward as one kernel each: the loss
// -log softmax(logits)[label] of every row, never building the [N, V] log-probabilities or a
// one-hot matrix. @attnkit/models' crossEntropy runs it; @attnkit/backend-native implements it.

/** Forward kernel: inputs CrossEntropyInputs, attrs CrossEntropyAttrs, outputs CrossEntropyOutputs. */
export const SOFTMAX_CROSS_ENTROPY = 'AttnkitSoftmaxCrossEntropy' as const;
/**
 * Its gradient kernel: inputs CrossEntropyGradInputs, same attrs, outputs
 * CrossEntropyGradOutputs.
 */
export const SOFTMAX_CROSS_ENTROPY_GRAD = 'AttnkitSoftmaxCrossEntropyGrad' as const;

export type CrossEntropyInputs<T> = {
  /** float32 `[rows, vocab]`, vocab >= 1. */
  logits: T;
  /** int32 `[rows]`. */
  labels: T;
};

export type CrossEntropyAttrs = {
  /**
   * An integer: a row whose label equals it, or lies outside [0, vocab), gets loss 0 and no
   * gradient through the loss (as a one-hot row of zeros would). -1 when none.
   */
  ignoreIndex: number;
};

/**
 * `[loss [rows], logSumExp [rows]]`: loss = logSumExp - logits[label] (0 for an ignored row);
 * both carry a gradient.
 */
export type CrossEntropyOutputs<T> = [loss: T, logSumExp: T];

/** The forward's inputs and the gradients of both outputs (zeros for an unused one). */
export type CrossEntropyGradInputs<T> = CrossEntropyInputs<T> & { dLoss: T; dLogSumExp: T };

/**
 * `[dLogits]`: (dLoss + dLogSumExp)·softmax(logits) - dLoss·onehot(label), the softmax
 * recomputed from the logits.
 */
export type CrossEntropyGradOutputs<T> = [dLogits: T];
