// @attnkit/models public surface: runs in Node and in browsers (no Node built-ins; checked by
// tools/browser/bundle-check.mjs). Node file I/O is in ./node.ts, the CLI in ./cli-api.ts.
import '@attnkit/positional';
import '@attnkit/attention';
export * from './tokenizers';
export * from './tasks';
export * from './blocks/transformer-block';
export { fillWidths } from './blocks/fill';
export * from './blocks/latent-attention-pooling';
export * from './blocks/patch-embedding';
export * from './assemblies/decoder-lm';
export * from './assemblies/encoder';
export * from './assemblies/mlm-head';
export * from './assemblies/encoder-decoder';
export * from './assemblies/vit';
export { poolHidden, maskedMean, poolingSchema } from './assemblies/pooling';
export type { Pooling } from './assemblies/pooling';
export { StackState } from './assemblies/decoder-state';
export * from './presets';
export * from './generation/sampling';
export * from './generation/generate';
export { generateBatch } from './generation/generate-batch';
export { openBatchDecoding } from './generation/batch-decoding';
export type { BatchDecoding } from './generation/batch-decoding';
export * from './generation/seq2seq';
export * from './generation/block-prefill';
export {
  BlockKVStore,
  blockKey,
  type BlockKV,
  type BlockKVStoreOptions,
} from './generation/block-kv-store';
export { fusedDecodingSupport, openDecoding } from './generation/decoding';
export type { Decoding, DecodingMode, DecodingOptions } from './generation/decoding';
export { fusedDecoderSpec } from './generation/fused-spec';
export * from './training/adamw';
export * from './training/schedule';
export * from './training/clip';
export * from './training/loss';
export * from './training/data';
export * from './training/trainer';
export { patchWasmKernels } from './kernels/wasm';
export * from './io/hf';
export * from './pretrained';
export * from './configs';
