// Tiny model configs and inputs shared by the specs.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import type { DecoderLM, DecoderLmConfig } from '@attnkit/models';
import '@attnkit/models'; // registers the model types

/** Llama-style block template: grouped-query attention, SwiGLU, RMSNorm. */
export const gqaBlock = {
  mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
  feedForward: { type: 'swiglu', hiddenDim: 16 },
  norm: { type: 'rms-norm' },
};

/** BERT/ViT-style block template: multi-head attention, GELU MLP, LayerNorm. */
export const mhaBlock = {
  mixer: { type: 'mha', numHeads: 2 },
  feedForward: { type: 'mlp', hiddenDim: 16, activation: 'gelu' },
  norm: { type: 'layer-norm' },
};

export function tinyLmConfig(overrides: Partial<DecoderLmConfig> = {}): DecoderLmConfig {
  return {
    type: 'decoder-lm',
    vocabSize: 11,
    dModel: 8,
    numLayers: 2,
    maxLength: 16,
    positional: { type: 'rotary', headDim: 4 },
    block: gqaBlock,
    ...overrides,
  };
}

export function tinyLm(
  overrides: Partial<DecoderLmConfig> = {},
  seed = 0,
  rng = new Rng(seed),
): DecoderLM {
  return build<DecoderLM>(tinyLmConfig(overrides), { rng });
}

/** Token ids `[rows, columns]` (int32). */
export const ids = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0]!.length], 'int32');
