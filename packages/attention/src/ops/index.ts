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
export {
  linearAttention,
  type LinearAttentionForm,
  type LinearAttentionOptions,
  type LinearAttentionResult,
  type LinearAttentionState,
} from './linear';
export {
  deltaRule,
  type DeltaRuleForm,
  type DeltaRuleOptions,
  type DeltaRuleResult,
} from './delta';
export {
  featureMaps,
  makeFeatureMap,
  MAX_ORTHOGONAL_WORK,
  checkOrthogonalWork,
  type FeatureMap,
  type FeatureMapFactory,
  type FeatureMapOptions,
  type FeatureRole,
} from './feature-maps';
export { mergeAttention, type AttentionPart } from './merge';
export { blockAttentionMask, withBlockAttention, shiftKeyPositions } from './block-attention';
export {
  blockSparseAttention,
  type BlockSparseOptions,
  type BlockSparseResult,
} from './block-sparse';
export {
  blockSparseMask,
  blockGeometry,
  type BlockGeometry,
  type BlockSparseMaskOptions,
} from './block-sparse-mask';
export {
  keySelectors,
  selectKeyBlocks,
  selectorGeometry,
  blockTopKMean,
  slidingBlocks,
  type KeySelector,
  type KeySelectorOptions,
} from './key-selectors';
export {
  linearRecurrence,
  logSumExpScan,
  type LinearRecurrenceOptions,
  type LinearRecurrenceResult,
  type LogSumExpScanOptions,
  type LogSumExpScanResult,
  type LogSumExpState,
} from './scan';
export { selectiveScan, type SelectiveScanOptions, type SelectiveScanResult } from './scan';
export {
  latentMixtureChunks,
  latentMixtureGated,
  latentMixtureProducts,
  type LatentMixtureChunksResult,
} from './scan';
export { causalConv1d, type CausalConv1dOptions, type CausalConv1dResult } from './short-conv';
export { fastmaxNormalize, fastmaxFeatures } from './fastmax';
export { hyperAttention, lshOrder, type HyperAttentionOptions } from './hyper-attention';
export * from './score-selection';
export { gatherAttention, headPattern, headPatternMask, type HeadPattern } from './head-pattern';
export {
  blockKeyMeans,
  mobaAttention,
  mobaGate,
  ownAndSelectedBlocks,
  topEarlierBlocks,
  type MobaOptions,
} from './moba';
export { tokenBlockAttention, tokenBlockMask, type TokenBlockOptions } from './token-block-sparse';
export {
  clusterAttention,
  kmeansStep,
  routeBalanced,
  unitNormalize,
  type ClusterAttentionOptions,
} from './routing';
export { compressedAttention, windowAttention } from './nsa';
export { bandMask, withBand } from './band-mask';
export * from './neighborhood';
