// Tiny model configs shared by the specs.
import { Rng, build } from '@attnkit/core';
import type { DecoderLM, DecoderLmConfig } from '@attnkit/models';
import '@attnkit/models'; // registers the model types

export function tinyLmConfig(overrides: Partial<DecoderLmConfig> = {}): DecoderLmConfig {
  return {
    type: 'decoder-lm',
    vocabSize: 11,
    dModel: 8,
    numLayers: 2,
    maxLength: 16,
    positional: { type: 'rotary', headDim: 4 },
    block: {
      mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
      feedForward: { type: 'swiglu', hiddenDim: 16 },
      norm: { type: 'rms-norm' },
    },
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
