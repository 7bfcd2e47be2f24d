// The ops of the score-selection sparse mixers (src/sparse): top-k, Top-θ, low-bit and FlexPrefill.
export {
  chunkedTopK,
  gatheredAttention,
  selectionMask,
  type TopKSelectOptions,
  type GatheredAttentionResult,
} from './topk-select';
export {
  thresholdAttention,
  THRESHOLD_COMPENSATIONS,
  type ThresholdCompensation,
  type ThresholdAttentionOptions,
} from './threshold-attention';
export { lowBitBlockSelect, quantizeSymmetric, type LowBitBlockOptions } from './lowbit-select';
export {
  flexPrefillSelect,
  jensenShannon,
  type FlexPrefillOptions,
  type FlexPrefillSelection,
} from './flex-prefill';
