export * from './options';
export { scaledDotProductAttention } from './sdpa';
export { repeatKvHeads } from './validate';
export { checkNormalizerOption, type NormalizerChoice } from './normalizer-option';
export {
  attentionScores,
  maskedSoftmax,
  normalizeScores,
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
