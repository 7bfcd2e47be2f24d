import type { EntryInfo, PresetConfig } from '@attnkit/core';
import landmarkLmTiny from './landmark-lm-tiny.json';

/**
 * Landmark attention's model presets (decoder-lm from @attnkit/models with its `landmark`
 * option), as plain configs: merged into the package's preset map, which registers them.
 */
export const landmarkPresets: Record<string, PresetConfig> = {
  'landmark-lm-tiny': landmarkLmTiny,
};

export const landmarkPresetInfo: Record<string, EntryInfo> = {
  'landmark-lm-tiny': {
    paper:
      'Mohtashami & Jaggi 2023, Landmark Attention: Random-Access Infinite Context Length for Transformers',
    summary:
      'llama-tiny with a landmark after every 8 tokens and landmark attention: grouped softmax in training, at inference the block before its own plus the top-2 by landmark score, per query and head.',
  },
};
