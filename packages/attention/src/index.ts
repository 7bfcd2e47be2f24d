// @attnkit/attention public surface.
export * from './ops';
export { KVCache, type KVCacheOptions } from './cache/kv-cache';
export { MultiHeadAttention } from './softmax/multi-head';
export { attentionFields, type AttentionConfig } from './softmax/config';
export * from './softmax/mixers';
