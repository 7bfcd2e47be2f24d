import type { EntryInfo, PresetConfig } from '@attnkit/core';

/**
 * Model presets with retrieval memory (the decoder-lm assembly they name comes from
 * @attnkit/models). Not registered here: the models package registers the presets it lists.
 */
export const knnPresets: Record<string, PresetConfig> = {
  /**
   * llama-tiny (2 layers of dModel 64, rotary, RMSNorm, SwiGLU) with knn-memory mixers: local
   * attention over a 16-token window (XL cache) plus the top-8 of up to 1024 memories per head.
   */
  'knn-lm-tiny': {
    type: 'decoder-lm',
    vocabSize: 65,
    dModel: 64,
    numLayers: 2,
    maxLength: 64,
    positional: { type: 'rotary', headDim: 16 },
    block: {
      mixer: { type: 'knn-memory', numHeads: 4, segmentLength: 16, topK: 8, capacity: 1024 },
      feedForward: { type: 'swiglu', hiddenDim: 128 },
      norm: { type: 'rms-norm' },
      placement: 'pre',
    },
    finalNorm: { type: 'rms-norm' },
    tieEmbeddings: true,
  },
};

export const knnPresetInfo: Record<string, EntryInfo> = {
  'knn-lm-tiny': {
    paper: 'Wu et al. 2022, Memorizing Transformers',
    summary:
      'llama-tiny with knn-memory mixers: a 16-token local window plus top-8 kNN over 1024 memories per head.',
  },
};
