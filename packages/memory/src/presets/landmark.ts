import { registerPreset, type PresetConfig } from '@attnkit/core';
import landmarkLmTiny from './landmark-lm-tiny.json';

/**
 * Landmark-attention model presets, registered in core's `presets` when this package is imported
 * (the decoder-lm assembly and its `landmark` option come from @attnkit/models).
 */
export const landmarkPresets: Record<string, PresetConfig> = {
  /** llama-tiny's shape with a landmark after every 8 tokens and landmark-attention mixers. */
  'landmark-lm-tiny': landmarkLmTiny,
};

registerPreset('landmark-lm-tiny', landmarkLmTiny, {
  info: {
    paper:
      'Mohtashami & Jaggi 2023, Landmark Attention: Random-Access Infinite Context Length for Transformers',
    summary:
      'Landmark decoder: a learned landmark after every 8 tokens; grouped softmax in training, and at inference each query and head reads its block, the one before and the top-2 others by landmark score; RoPE, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
