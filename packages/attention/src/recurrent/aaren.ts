import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  Module,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { logSumExpScan, type LogSumExpState } from '../ops/scan';
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES } from './common';
import { RecurrentState } from './state';

/** 'aaren': attention as a many-to-many RNN (Feng et al. 2024, sec. 3.3). */
export const aarenSchema = z
  .strictObject({
    type: z.literal('aaren'),
    dModel: z.number().int().positive(),
    numHeads: z.number().int().positive(),
    /** Width per head; default dModel / numHeads. */
    headDim: z.number().int().positive().optional(),
    /** Biases on the k/v/o projections (default false). */
    bias: z.boolean().optional(),
    /** Training form of the scan: 'parallel' (default, log T combines) or 'recurrent'. */
    form: z.enum(['parallel', 'recurrent']).optional(),
  })
  .refine((c) => c.headDim !== undefined || c.dModel % c.numHeads === 0, {
    path: ['numHeads'],
    message: 'a divisor of dModel (or set headDim)',
  });
export type AarenConfig = z.input<typeof aarenSchema>;

/** Aaren's decoding state: the scan's running max, numerator and denominator per head. */
export class AarenState extends RecurrentState {
  get scan(): LogSumExpState | undefined {
    const max = this.read('max');
    if (!max) return undefined;
    return { max, numerator: this.read('numerator')!, denominator: this.read('denominator')! };
  }
}

/**
 * Aaren, "Attention as an RNN" (Feng et al. 2024, sec. 3.2-3.3): a learned query q_h per head
 * attends with softmax to the keys and values of the tokens so far, so
 * o_t = Σ_{i<=t} exp(s_i) v_i / Σ_{i<=t} exp(s_i), s_i = q_h·k_i/√d: the outputs of every
 * prefix at once by the parallel prefix scan with the log-sum-exp combine (`logSumExpScan`,
 * sec. 3.2), and in decoding one combine per token on the state (m, u, w): constant memory.
 * Keys and values are projections of the input, the heads merge through an output projection.
 */
export class Aaren extends Module<AarenConfig> implements TokenMixer {
  readonly query: tf.Variable;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;

  constructor(config: AarenConfig, options: ModuleOptions = {}) {
    super(parseConfig('aaren', aarenSchema, config), options);
    const { dModel, numHeads: h, bias = false } = this.config;
    const width = h * this.headDim;
    const linear = (i: number, o: number) =>
      new Linear({ inFeatures: i, outFeatures: o, bias }, { rng: this.rng });
    const std = 1 / Math.sqrt(this.headDim);
    const q = Float32Array.from({ length: width }, () => this.rng.normal() * std);
    this.query = this.addParameter('query', tf.tensor2d(q, [h, this.headDim]));
    this.k = this.addModule('k', linear(dModel, width));
    this.v = this.addModule('v', linear(dModel, width));
    this.o = this.addModule('o', linear(width, dModel));
  }

  get headDim(): number {
    return this.config.headDim ?? this.config.dModel / this.config.numHeads;
  }

  get capabilities(): MixerCapabilities {
    return RECURRENT_CAPABILITIES;
  }

  initState(_batch: number): AarenState {
    return new AarenState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { dModel, numHeads: h } = this.config;
    const state = checkMixerInput('aaren', x, dModel, context, AarenState, this.capabilities);
    const d = this.headDim;
    const [b, t] = x.shape;
    const [output, max, numerator, denominator] = tf.tidy(() => {
      const keys = tf.reshape(this.k.forward(x), [b, t, h, d]);
      const values = tf.reshape(this.v.forward(x), [b, t, h, d]);
      const scores = tf.sum(tf.mul(keys, tf.mul(this.query, 1 / Math.sqrt(d))), 3); // [b, t, h]
      const r = logSumExpScan(scores, values, {
        form: t === 1 ? 'recurrent' : (this.config.form ?? 'parallel'),
        initialState: state?.scan,
      });
      const out = this.o.forward(tf.reshape(r.output, [b, t, h * d])) as tf.Tensor3D;
      return [out, r.state.max, r.state.numerator, r.state.denominator];
    });
    if (state) state.update({ max, numerator, denominator }, t);
    else tf.dispose([max, numerator, denominator]);
    return output;
  }
}

register('aaren', (c, o) => new Aaren(c, o), aarenSchema, {
  category: 'mixer',
  // The learned queries [h, hd], k and v [dModel, h·hd] and o [h·hd, dModel] (+ biases).
  estimate: (c) => {
    const width = c.numHeads * (c.headDim ?? c.dModel / c.numHeads);
    const bias = (c.bias ?? false) ? 2 * width + c.dModel : 0;
    return estimateOf(width + 3 * c.dModel * width + bias);
  },
  info: {
    paper: 'Feng et al. 2024, Attention as an RNN',
    equation:
      'sec. 3.1 (softmax attention of one query as an RNN), sec. 3.2 (many-to-many: parallel prefix scan, log-sum-exp combine), sec. 3.3 (Aaren: learned query)',
    summary:
      'a learned query per head attends to every prefix: parallel prefix scan for training, (m, u, w) state decoding',
    example: { type: 'aaren', dModel: 8, numHeads: 2 },
  },
});
