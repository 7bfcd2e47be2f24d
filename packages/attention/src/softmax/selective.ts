import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  QKNorm,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { SelectiveState } from '../cache/selective-state';
import { attentionScores, maskedSoftmax } from '../ops/scores';
import { selectionPenalty } from '../ops/selection';
import { repeatKvHeads } from '../ops/validate';
import { mergeHeads, mixerInput, positionalBias, requireCausal, rotate, splitHeads } from './heads';

const positive = z.number().int().positive();

export const selectiveSchema = z.strictObject({
  type: z.literal('selective'),
  dModel: positive,
  numHeads: positive,
  numKvHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  qkNorm: z.enum(['rms', 'layer', 'l2']).optional(),
});

export type SelectiveConfig = z.infer<typeof selectiveSchema>;

/**
 * Selective attention (Leviathan et al. 2024, sec. 2): head 0's logits also score how much
 * each token should be hidden from later tokens; S = ReLU(logits₀) (never the first token,
 * never itself), F[i] = Σ_{i'<i} S[i'], and every head attends with softmax(logits - F).
 * Causal only, no new parameters. Decodes with the KV cache plus the running Σ S per key.
 * (The paper's context pruning, which drops keys once F passes a budget, is not done.)
 */
export class SelectiveAttention extends Module<SelectiveConfig> implements TokenMixer {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly qNorm: QKNorm | null;
  readonly kNorm: QKNorm | null;
  readonly headDim: number;
  readonly numKvHeads: number;

  constructor(config: SelectiveConfig, options: ModuleOptions = {}) {
    super(config, options);
    const block = config.type;
    const { dModel, numHeads } = config;
    this.numKvHeads = config.numKvHeads ?? numHeads;
    if (numHeads % this.numKvHeads !== 0) {
      throw new ConfigError(
        block,
        'numKvHeads',
        `a divisor of numHeads=${numHeads}`,
        String(this.numKvHeads),
      );
    }
    if (config.headDim === undefined && dModel % numHeads !== 0) {
      throw new ConfigError(
        block,
        'numHeads',
        `a divisor of dModel=${dModel} (or set headDim)`,
        String(numHeads),
      );
    }
    const d = (this.headDim = config.headDim ?? dModel / numHeads);
    const bias = config.bias ?? false;
    const linear = (name: string, inFeatures: number, outFeatures: number) =>
      this.addModule(name, new Linear({ inFeatures, outFeatures, bias }, options));
    this.q = linear('q', dModel, numHeads * d);
    this.k = linear('k', dModel, this.numKvHeads * d);
    this.v = linear('v', dModel, this.numKvHeads * d);
    this.o = linear('o', numHeads * d, dModel);
    const qk = config.qkNorm;
    this.qNorm = qk ? this.addModule('qNorm', new QKNorm({ headDim: d, norm: qk }, options)) : null;
    this.kNorm = qk ? this.addModule('kNorm', new QKNorm({ headDim: d, norm: qk }, options)) : null;
  }

  initState(_batch: number): IncrementalState {
    return new SelectiveState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(block, x, this.config.dModel, context, SelectiveState, this.training);
    requireCausal(block, context);
    const state = input.state;
    if (state && context.segmentIds) {
      throw new ConfigError(
        block,
        'context.segmentIds',
        'no segment ids while decoding with a cache',
        'segment ids',
      );
    }
    const { numHeads } = this.config;
    const d = this.headDim;
    return tf.tidy(() => {
      const queryPositions = input.queryPositions;
      let q = splitHeads(this.q.forward(x), numHeads, d);
      let k = splitHeads(this.k.forward(x), this.numKvHeads, d);
      let v = splitHeads(this.v.forward(x), this.numKvHeads, d);
      if (this.qNorm) q = this.qNorm.forward(q) as tf.Tensor4D;
      if (this.kNorm) k = this.kNorm.forward(k) as tf.Tensor4D;
      q = rotate(context.positional, q, queryPositions);
      k = rotate(context.positional, k, queryPositions);
      let keyPositions = queryPositions;
      if (state) {
        ({
          keys: k,
          values: v,
          positions: keyPositions,
        } = state.cache.append(k, v, queryPositions));
      }
      const { logits, keep } = attentionScores(
        q,
        k,
        {
          causal: true,
          scale: (context.positional?.logitScale ?? 1) / Math.sqrt(d),
          bias: positionalBias(context.positional, queryPositions, keyPositions, numHeads, q),
          mask: context.mask,
          querySegments: context.segmentIds,
          queryPositions,
          keyPositions,
        },
        block,
      );
      const [b, , tq, tk] = logits.shape;
      const selector = tf.reshape(tf.slice(logits, [0, 0, 0, 0], [-1, 1, -1, -1]), [b, tq, tk]);
      const { penalty, total } = selectionPenalty(
        selector as tf.Tensor3D,
        queryPositions,
        keyPositions,
        keep,
        state?.total ?? undefined,
      );
      if (state) state.setTotal(total);
      const weights = maskedSoftmax(tf.sub(logits, penalty), keep);
      if (context.attentionHook) context.attentionHook({ block, weights });
      const output = tf.matMul(weights, repeatKvHeads(v, numHeads)) as tf.Tensor4D;
      return this.o.forward(mergeHeads(output)) as tf.Tensor3D;
    });
  }
}

register(
  'selective',
  (c: SelectiveConfig, o: ModuleOptions) => new SelectiveAttention(c, o),
  selectiveSchema,
  { category: 'mixer' },
);
