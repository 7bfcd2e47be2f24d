import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  type Estimate,
  estimateOf,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
  parseConfig,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { mixHeads } from '../ops/head-mix';
import { attentionScores, dropWeights, maskedSoftmax } from '../ops/scores';
import { attentionFields } from './config';
import { mixerInput, refuseSegmentsWhileDecoding, reportWeights } from './heads';
import { type HeadLayout, ProjectedAttention, headLayout, layoutParameters } from './projected';

const positive = z.number().int().positive();
const { dModel, numHeads, headDim, bias, causal, dropout } = attentionFields;

export const talkingHeadsSchema = z.strictObject({
  type: z.literal('talking-heads'),
  dModel,
  /** h: heads of the softmax. */
  numHeads,
  /** h_k: heads of the query-key logits (default numHeads). */
  numKeyHeads: positive.optional(),
  /** h_v: heads of the values (default numHeads). */
  numValueHeads: positive.optional(),
  headDim,
  bias,
  causal,
  window: positive.optional(),
  dropout,
});

export type TalkingHeadsConfig = z.infer<typeof talkingHeadsSchema>;

/**
 * Talking-heads attention (Shazeer et al. 2020, sec. 4): learned projections across heads
 * just before the softmax (P_l [h_k, h]) and just after it (P_w [h, h_v]):
 *   J = Q Kᵀ/√d (h_k heads), W = softmax(J·P_l), O = (W·P_w) V (h_v heads).
 * Masks apply after the first mix. Both mixes start as the (rectangular) identity, so the
 * block starts as multi-head attention. Decodes with a KV cache (ring buffer with a window).
 */
export class TalkingHeadsAttention
  extends ProjectedAttention<TalkingHeadsConfig>
  implements TokenMixer
{
  /** P_l [h_k, h] */
  readonly preSoftmax: tf.Variable;
  /** P_w [h, h_v] */
  readonly postSoftmax: tf.Variable;
  readonly keyHeads: number;
  readonly valueHeads: number;

  constructor(config: TalkingHeadsConfig, options: ModuleOptions = {}) {
    config = parseConfig('talking-heads', talkingHeadsSchema, config);
    const keyHeads = config.numKeyHeads ?? config.numHeads;
    const valueHeads = config.numValueHeads ?? config.numHeads;
    super(config, options, talkingHeadsLayout(config));
    this.keyHeads = keyHeads;
    this.valueHeads = valueHeads;
    this.preSoftmax = this.addParameter('preSoftmax', tf.eye(keyHeads, config.numHeads));
    this.postSoftmax = this.addParameter('postSoftmax', tf.eye(config.numHeads, valueHeads));
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window });
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      KVCache,
      this.training,
      this.capabilities,
    );
    const cache = input.state;
    refuseSegmentsWhileDecoding(block, cache, context);
    const causal = this.isCausal(context);
    return tf.tidy(() => {
      const queryPositions = input.queryPositions;
      const {
        q,
        keys: k,
        values: v,
        keyPositions,
      } = this.projectSelf(x, queryPositions, context.positional, cache);
      const { logits, keep } = attentionScores(
        q,
        k,
        {
          ...this.logitOptions(q, context.positional, context, queryPositions, keyPositions),
          causal,
          window: this.config.window,
        },
        block,
      );
      const weights = maskedSoftmax(mixHeads(logits, this.preSoftmax as tf.Tensor2D, block), keep);
      if (context.attentionHook) reportWeights(block, context, weights);
      const rate = input.training ? (this.config.dropout ?? 0) : 0;
      const dropped = dropWeights(weights, rate, rate > 0 ? this.rng.nextUint32() : undefined);
      const mixed = mixHeads(dropped, this.postSoftmax as tf.Tensor2D, block);
      const output = this.mergeAndProject(tf.matMul(mixed, v) as tf.Tensor4D, context.heads);
      // Only now: eviction frees the cached keys and values read above.
      if (cache) cache.evict();
      return output;
    });
  }
}

/** No grouped keys: q and k have h_k heads, v and o h_v heads. */
function talkingHeadsLayout(c: TalkingHeadsConfig): HeadLayout {
  const keyHeads = c.numKeyHeads ?? c.numHeads;
  const valueHeads = c.numValueHeads ?? c.numHeads;
  return { ...headLayout(c), queryHeads: keyHeads, keyHeads, valueHeads, outputHeads: valueHeads };
}

/** Projections of the talking-heads layout, P_l [h_k, h] and P_w [h, h_v]. */
function estimateTalkingHeads(c: TalkingHeadsConfig): Estimate {
  const { keyHeads, valueHeads } = talkingHeadsLayout(c);
  return estimateOf(
    layoutParameters(c, talkingHeadsLayout(c)) + (keyHeads + valueHeads) * c.numHeads,
  );
}

register(
  'talking-heads',
  (c: TalkingHeadsConfig, o: ModuleOptions) => new TalkingHeadsAttention(c, o),
  talkingHeadsSchema,
  {
    category: 'mixer',
    estimate: estimateTalkingHeads,
    info: {
      paper: 'Shazeer et al. 2020, Talking-Heads Attention',
      equation: 'sec. 4',
      summary: 'Learned projections across heads just before and just after the softmax.',
      example: { type: 'talking-heads', dModel: 8, numHeads: 2 },
    },
  },
);
