import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { TitansWindowState, WindowedTitans, titansFields, windowedParameters } from './windowed';

/** 'titans-mal': memory as a layer (Behrouz et al. 2024, sec. 4.3). */
export const titansMalSchema = z.strictObject({ type: z.literal('titans-mal'), ...titansFields });
export type TitansMalConfig = z.input<typeof titansMalSchema>;

/**
 * Titans MAL, memory as a layer (Behrouz et al. 2024, sec. 4.3, eqs. 29-31): the neural memory
 * compresses the input first, y = M(x), and sliding-window attention with persistent tokens reads
 * what it gives, o = SW-Attn([P, y]). The memory layer keeps its residual (h = x + M(x)), as a
 * layer of the stack would. Decoding carries the memory's weights and the window's KV cache.
 */
export class TitansMal extends WindowedTitans<TitansMalConfig & { window: number }> {
  constructor(config: TitansMalConfig, options: ModuleOptions = {}) {
    super(parseConfig('titans-mal', titansMalSchema, config), options);
  }

  protected mix(x: tf.Tensor3D, context: MixerContext, state?: TitansWindowState): tf.Tensor3D {
    const h = tf.add(x, this.remember(x, state)) as tf.Tensor3D;
    return this.attend(h, context, state);
  }
}

register('titans-mal', (c, o) => new TitansMal(c as TitansMalConfig, o), titansMalSchema, {
  category: 'mixer',
  estimate: (c: TitansMalConfig) => estimateOf(windowedParameters(c)),
  info: {
    paper: 'Behrouz et al. 2024, Titans: Learning to Memorize at Test Time',
    equation: 'sec. 4.3, eqs. 29-31: y = M(x), o = SW-Attn([P, y])',
    summary:
      'memory as a layer: the neural memory, then sliding-window attention with persistent tokens',
    example: {
      type: 'titans-mal',
      dModel: 8,
      numHeads: 2,
      window: 3,
      chunkSize: 2,
      persistentTokens: 2,
    },
  },
});
