import { registerPreset, type PresetConfig } from '@attnkit/core';
import rmtLmTiny from './rmt-lm-tiny.json';

/**
 * Recurrent-memory model presets, registered in core's `presets` when this package is imported
 * (the decoder-lm assembly they name comes from @attnkit/models).
 */
export const rmtPresets: Record<string, PresetConfig> = {
  /** llama-tiny's shape with recurrent-memory mixers: 16-token segments, 8 memory slots. */
  'rmt-lm-tiny': rmtLmTiny,
};

registerPreset('rmt-lm-tiny', rmtLmTiny, {
  info: {
    paper: 'Bulatov et al. 2022, Recurrent Memory Transformer',
    summary:
      'Recurrent-memory decoder: 16-token segments that attend causally within themselves and to 8 memory slots per layer, rewritten after each segment; RoPE, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
