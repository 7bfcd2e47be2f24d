export * from './options';
export { scaledDotProductAttention } from './sdpa';
export { repeatKvHeads } from './validate';
export {
  attentionScores,
  maskedSoftmax,
  maskLogits,
  zeroMasked,
  dropWeights,
  type AttentionScores,
} from './scores';
export { keyQueryConv } from './key-query-conv';
export { mixHeads, groupedHeadMatrix } from './head-mix';
export { selectionPenalty, type SelectionResult } from './selection';
export { gaussianAdaptiveAttention, type GaussianAdaptiveParams } from './gaussian';
export { lambdaInit, headNorm, type HeadNormKind } from './head-norm';
export { differentialCombine } from './differential';
export {
  linearRecurrence,
  logSumExpScan,
  type LinearRecurrenceOptions,
  type LinearRecurrenceResult,
  type LogSumExpScanOptions,
  type LogSumExpScanResult,
  type LogSumExpState,
} from './scan';
export { causalConv1d, type CausalConv1dOptions, type CausalConv1dResult } from './short-conv';
