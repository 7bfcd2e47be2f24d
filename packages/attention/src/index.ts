// @attnkit/attention public surface.
export * from './ops';
export { KVCache, type KVCacheOptions } from './cache/kv-cache';
export { retentionPolicies, type RetentionPolicy, type RetentionOptions } from './cache/retention';
export { SelectiveState } from './cache/selective-state';
export { MultiTokenState } from './cache/multi-token-state';
export { StepCounter } from './cache/step-counter';
export {
  ProjectedAttention,
  headLayout,
  layoutParameters,
  projectedParameters,
  type HeadLayout,
  type ProjectionConfig,
} from './softmax/projected';
// The input checks of the mixers here, for mixers built on ProjectedAttention elsewhere.
export { checkMixerInput, inputPositions, refuseSegmentsWhileDecoding } from './softmax/heads';
export { MultiHeadAttention } from './softmax/multi-head';
export { attentionFields, type AttentionConfig } from './softmax/config';
export * from './softmax/mixers';
export { HeadNorm, type HeadNormConfig } from './softmax/head-norm';
export * from './softmax/multi-token';
export * from './softmax/selective';
export * from './softmax/gaussian-adaptive';
export * from './softmax/talking-heads';
export * from './softmax/differential';
export * from './linear';
export * from './recurrent';
export * from './sparse';
export * from './configs';
