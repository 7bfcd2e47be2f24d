import { registerPreset, type PresetConfig } from '@attnkit/core';
import knnLmTiny from './knn-lm-tiny.json';

/**
 * Retrieval-memory model presets, registered in core's `presets` when this package is imported
 * (the decoder-lm assembly they name comes from @attnkit/models).
 */
export const knnPresets: Record<string, PresetConfig> = {
  /**
   * llama-tiny's shape with knn-memory mixers: a 16-token local window (XL cache) plus the
   * top-8 of up to 1024 memories per head and sequence.
   */
  'knn-lm-tiny': knnLmTiny,
};

registerPreset('knn-lm-tiny', knnLmTiny, {
  info: {
    paper: 'Wu et al. 2022, Memorizing Transformers',
    summary:
      'kNN-memory decoder: local attention over a 16-token window plus gated attention over the top-8 of 1024 memories per head (exact kNN, FIFO); RoPE, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
