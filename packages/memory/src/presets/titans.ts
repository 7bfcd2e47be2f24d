import { registerPreset, type PresetConfig } from '@attnkit/core';
import titansMacTiny from './titans-mac-tiny.json';
import titansMagTiny from './titans-mag-tiny.json';
import titansMalTiny from './titans-mal-tiny.json';

/**
 * Titans model presets (Behrouz et al. 2024, sec. 4), registered in core's `presets` when this
 * package is imported (the decoder-lm assembly they name comes from @attnkit/models): llama-tiny's
 * shape (dModel 64, 2 layers, RMSNorm, SwiGLU) with a Titans mixer in every layer, 16-token memory
 * chunks and MAC segments, 16-token windows, 4 persistent tokens.
 */
export const titansPresets: Record<string, PresetConfig> = {
  'titans-mac-tiny': titansMacTiny,
  'titans-mag-tiny': titansMagTiny,
  'titans-mal-tiny': titansMalTiny,
};

const summaries: Record<string, string> = {
  'titans-mac-tiny':
    'Titans MAC decoder: 16-token segments attend 4 persistent tokens, the neural memory’s retrieval and themselves; no positional encoding, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  'titans-mag-tiny':
    'Titans MAG decoder: 16-token sliding-window attention with 4 persistent tokens, gated by a neural-memory branch; RoPE, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  'titans-mal-tiny':
    'Titans MAL decoder: a neural-memory layer, then 16-token sliding-window attention with 4 persistent tokens; RoPE, RMSNorm, SwiGLU, 2 layers of dModel 64.',
};

for (const [name, config] of Object.entries(titansPresets)) {
  registerPreset(name, config, {
    info: {
      paper: 'Behrouz et al. 2024, Titans: Learning to Memorize at Test Time',
      summary: summaries[name]!,
    },
  });
}
