import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type IncrementalState,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { SelectiveState } from '../cache/selective-state';
import { attentionScores, maskedSoftmax } from '../ops/scores';
import { selectionPenalty } from '../ops/selection';
import { repeatKvHeads } from '../ops/validate';
import { attentionFields } from './config';
import { mixerInput, refuseSegmentsWhileDecoding, reportWeights } from './heads';
import { ProjectedAttention, projectedParameters } from './projected';

const positive = z.number().int().positive();
const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

export const selectiveSchema = z.strictObject({
  type: z.literal('selective'),
  dModel,
  numHeads,
  numKvHeads: positive.optional(),
  headDim,
  bias,
  qkNorm,
});

export type SelectiveConfig = z.infer<typeof selectiveSchema>;

/**
 * Selective attention (Leviathan et al. 2024, sec. 2): head 0's logits also score how much
 * each token should be hidden from later tokens; S = ReLU(logits₀) (never the first token,
 * never itself), F[i] = Σ_{i'<i} S[i'], and every head attends with softmax(logits - F).
 * Causal only, no new parameters. Decodes with the KV cache plus the running Σ S per key.
 * (The paper's context pruning, which drops keys once F passes a budget, is not done.)
 */
export class SelectiveAttention extends ProjectedAttention<SelectiveConfig> implements TokenMixer {
  constructor(config: SelectiveConfig, options: ModuleOptions = {}) {
    super(parseConfig('selective', selectiveSchema, config), options);
  }

  /** Defined causally (a token selects away earlier tokens for every later one). */
  override get capabilities(): MixerCapabilities {
    return { ...super.capabilities, causal: 'only' };
  }

  initState(_batch: number): IncrementalState {
    return new SelectiveState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      SelectiveState,
      this.training,
      this.capabilities,
    );
    const state = input.state;
    refuseSegmentsWhileDecoding(block, state, context);
    const { numHeads } = this.config;
    return tf.tidy(() => {
      const queryPositions = input.queryPositions;
      const {
        q,
        keys: k,
        values: v,
        keyPositions,
      } = this.projectSelf(x, queryPositions, context.positional, state?.cache);
      const { logits, keep } = attentionScores(
        q,
        k,
        {
          ...this.logitOptions(q, context.positional, context, queryPositions, keyPositions),
          causal: true,
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
      if (context.attentionHook) reportWeights(block, context, weights);
      const output = tf.matMul(weights, repeatKvHeads(v, numHeads)) as tf.Tensor4D;
      return this.mergeAndProject(output, context.heads);
    });
  }
}

register(
  'selective',
  (c: SelectiveConfig, o: ModuleOptions) => new SelectiveAttention(c, o),
  selectiveSchema,
  {
    category: 'mixer',
    estimate: (c) => estimateOf(projectedParameters(c)), // no parameters of its own
    info: {
      paper: 'Leviathan et al. 2024, Selective Attention',
      equation: 'sec. 2',
      summary:
        "Tokens mask later tokens' view of earlier ones: softmax(logits - F), F a running sum of ReLU(head-0 logits).",
      example: { type: 'selective', dModel: 8, numHeads: 2 },
    },
  },
);
