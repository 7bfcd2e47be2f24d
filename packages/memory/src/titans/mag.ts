import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  rmsNorm,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { TitansWindowState, WindowedTitans, titansFields, windowedParameters } from './windowed';

/** 'titans-mag': memory as a gate (Behrouz et al. 2024, sec. 4.2). */
export const titansMagSchema = z.strictObject({ type: z.literal('titans-mag'), ...titansFields });
export type TitansMagConfig = z.input<typeof titansMagSchema>;

/**
 * Titans MAG, memory as a gate (Behrouz et al. 2024, sec. 4.2, eqs. 26-28): y = SW-Attn*([P, x]),
 * o = y ⊗ M(x), the two branches side by side; ⊗ normalises both outputs with learned
 * vector-valued gains and gates the attention by σ of the memory's: o = (g_y ⊙ rms(y)) ⊙
 * σ(g_m ⊙ rms(M(x))). Decoding carries the window's KV cache and the memory's weights.
 */
export class TitansMag extends WindowedTitans<TitansMagConfig & { window: number }> {
  readonly attentionGain: tf.Variable;
  readonly memoryGain: tf.Variable;

  constructor(config: TitansMagConfig, options: ModuleOptions = {}) {
    super(parseConfig('titans-mag', titansMagSchema, config), options);
    this.attentionGain = this.addParameter('attentionGain', tf.ones([this.config.dModel]));
    this.memoryGain = this.addParameter('memoryGain', tf.ones([this.config.dModel]));
  }

  protected mix(x: tf.Tensor3D, context: MixerContext, state?: TitansWindowState): tf.Tensor3D {
    const y = tf.mul(rmsNorm(this.attend(x, context, state)), this.attentionGain);
    const m = tf.mul(rmsNorm(this.remember(x, state)), this.memoryGain);
    return tf.mul(y, tf.sigmoid(m)) as tf.Tensor3D;
  }
}

register('titans-mag', (c, o) => new TitansMag(c as TitansMagConfig, o), titansMagSchema, {
  category: 'mixer',
  estimate: (c: TitansMagConfig) => estimateOf(windowedParameters(c) + 2 * c.dModel),
  info: {
    paper: 'Behrouz et al. 2024, Titans: Learning to Memorize at Test Time',
    equation: 'sec. 4.2, eqs. 26-28: y = SW-Attn*([P, x]), o = y ⊗ M(x)',
    summary:
      'memory as a gate: sliding-window attention with persistent tokens, gated by the neural memory branch',
    example: {
      type: 'titans-mag',
      dModel: 8,
      numHeads: 2,
      window: 3,
      chunkSize: 2,
      persistentTokens: 2,
    },
  },
});
