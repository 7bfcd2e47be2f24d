import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { mixHeads } from '../ops/head-mix';
import { attentionScores, dropWeights, maskedSoftmax } from '../ops/scores';
import { mergeHeads, mixerInput, positionalBias, rotate, splitHeads } from './heads';

const positive = z.number().int().positive();

export const talkingHeadsSchema = z.strictObject({
  type: z.literal('talking-heads'),
  dModel: positive,
  /** h: heads of the softmax. */
  numHeads: positive,
  /** h_k: heads of the query-key logits (default numHeads). */
  numKeyHeads: positive.optional(),
  /** h_v: heads of the values (default numHeads). */
  numValueHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  causal: z.boolean().optional(),
  window: positive.optional(),
  dropout: z.number().min(0).lt(1).optional(),
});

export type TalkingHeadsConfig = z.infer<typeof talkingHeadsSchema>;

/**
 * Talking-heads attention (Shazeer et al. 2020, sec. 4): learned projections across heads
 * just before the softmax (P_l [h_k, h]) and just after it (P_w [h, h_v]):
 *   J = Q Kᵀ/√d (h_k heads), W = softmax(J·P_l), O = (W·P_w) V (h_v heads).
 * Masks apply after the first mix. Both mixes start as the (rectangular) identity, so the
 * block starts as multi-head attention. Decodes with a KV cache (ring buffer with a window).
 */
export class TalkingHeadsAttention extends Module<TalkingHeadsConfig> implements TokenMixer {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  /** P_l [h_k, h] */
  readonly preSoftmax: tf.Variable;
  /** P_w [h, h_v] */
  readonly postSoftmax: tf.Variable;
  readonly headDim: number;
  readonly keyHeads: number;
  readonly valueHeads: number;

  constructor(config: TalkingHeadsConfig, options: ModuleOptions = {}) {
    super(config, options);
    const { dModel, numHeads } = config;
    if (config.headDim === undefined && dModel % numHeads !== 0) {
      throw new ConfigError(
        config.type,
        'numHeads',
        `a divisor of dModel=${dModel} (or set headDim)`,
        String(numHeads),
      );
    }
    this.headDim = config.headDim ?? dModel / numHeads;
    this.keyHeads = config.numKeyHeads ?? numHeads;
    this.valueHeads = config.numValueHeads ?? numHeads;
    const bias = config.bias ?? false;
    const d = this.headDim;
    const linear = (name: string, inFeatures: number, outFeatures: number) =>
      this.addModule(name, new Linear({ inFeatures, outFeatures, bias }, options));
    this.q = linear('q', dModel, this.keyHeads * d);
    this.k = linear('k', dModel, this.keyHeads * d);
    this.v = linear('v', dModel, this.valueHeads * d);
    this.o = linear('o', this.valueHeads * d, dModel);
    this.preSoftmax = this.addParameter('preSoftmax', tf.eye(this.keyHeads, numHeads));
    this.postSoftmax = this.addParameter('postSoftmax', tf.eye(numHeads, this.valueHeads));
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window });
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(block, x, this.config.dModel, context, KVCache, this.training);
    const cache = input.state;
    if (cache && context.segmentIds) {
      throw new ConfigError(
        block,
        'context.segmentIds',
        'no segment ids while decoding with a cache',
        'segment ids',
      );
    }
    const causal = (this.config.causal ?? true) && (context.causal ?? true);
    const d = this.headDim;
    return tf.tidy(() => {
      const queryPositions = input.queryPositions;
      const q = rotate(
        context.positional,
        splitHeads(this.q.forward(x), this.keyHeads, d),
        queryPositions,
      );
      let k = rotate(
        context.positional,
        splitHeads(this.k.forward(x), this.keyHeads, d),
        queryPositions,
      );
      let v = splitHeads(this.v.forward(x), this.valueHeads, d);
      let keyPositions = queryPositions;
      if (cache)
        ({ keys: k, values: v, positions: keyPositions } = cache.append(k, v, queryPositions));
      const scale = (context.positional?.logitScale ?? 1) / Math.sqrt(d);
      const { logits, keep } = attentionScores(
        q,
        k,
        {
          causal,
          window: this.config.window,
          scale,
          bias: positionalBias(context.positional, queryPositions, keyPositions, this.keyHeads, q),
          mask: context.mask,
          querySegments: context.segmentIds,
          queryPositions,
          keyPositions,
        },
        block,
      );
      const weights = maskedSoftmax(mixHeads(logits, this.preSoftmax as tf.Tensor2D, block), keep);
      if (context.attentionHook) context.attentionHook({ block, weights });
      const rate = input.training ? (this.config.dropout ?? 0) : 0;
      const dropped = dropWeights(weights, rate, rate > 0 ? this.rng.nextUint32() : undefined);
      const mixed = mixHeads(dropped, this.postSoftmax as tf.Tensor2D, block);
      const output = this.o.forward(mergeHeads(tf.matMul(mixed, v) as tf.Tensor4D));
      // Only now: eviction frees the cached keys and values read above.
      if (cache) cache.evict();
      return output as tf.Tensor3D;
    });
  }
}

register(
  'talking-heads',
  (c: TalkingHeadsConfig, o: ModuleOptions) => new TalkingHeadsAttention(c, o),
  talkingHeadsSchema,
  { category: 'mixer' },
);
