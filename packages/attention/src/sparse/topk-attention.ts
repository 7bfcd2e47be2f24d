import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { estimateOf, parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { chunkedTopK, gatheredAttention } from '../ops/topk-select';
import { reportWeights } from '../softmax/heads';
import { projectedParameters } from '../softmax/projected';
import { ScoreSelectionAttention, selectionFields, type SelectionCall } from './selection-base';

export const topkAttentionSchema = z.strictObject({
  type: z.literal('topk-attention'),
  ...selectionFields,
  /** Keys each query attends to (fewer when it sees fewer keys). */
  topK: z.number().int().positive(),
});

export type TopKAttentionConfig = z.infer<typeof topkAttentionSchema>;

/**
 * Top-k attention (Gupta et al. 2021, "Memory-efficient Transformers via Top-k Attention",
 * Wang et al. 2022, KVT: o_i = softmax(q_i K[I_i]ᵀ/√d) V[I_i], I_i the topK highest q_i·k_j): each query attends with softmax only to the topK keys
 * of highest q·kᵀ, found chunk by chunk with a running top-k, then gathered. Memory is
 * O(T · topK) scores and gathered rows, not O(T²). Ties go to the lower key index. Causal or
 * bidirectional; decodes with a KV cache.
 */
export class TopKAttention extends ScoreSelectionAttention<TopKAttentionConfig> {
  protected readonly weightsKind = 'selected';

  constructor(config: TopKAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('topk-attention', topkAttentionSchema, config), options);
  }

  protected attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    call: SelectionCall,
  ): tf.Tensor4D {
    // A query that sees fewer than topK keys keeps them all: k is capped at the keys there are.
    const k = Math.min(this.config.topK, keys.shape[2]);
    const indices = chunkedTopK(q, keys, {
      k,
      causal: call.causal,
      chunkSize: this.config.chunkSize,
    });
    const { output, weights } = gatheredAttention(q, keys, values, indices, { scale: call.scale });
    if (call.context.attentionHook) reportWeights(this.config.type, call.context, weights, indices);
    return output;
  }
}

register(
  'topk-attention',
  (c: TopKAttentionConfig, o: ModuleOptions) => new TopKAttention(c, o),
  topkAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: TopKAttentionConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper: 'Gupta et al. 2021, Memory-efficient Transformers via Top-k Attention',
      equation: 'o_i = softmax(q_i K[I_i]ᵀ/√d) V[I_i], I_i = the topK keys of highest q_i·k_j',
      summary:
        'Each query attends to its topK highest-scoring keys only (running top-k over key chunks, then a gather).',
      example: { type: 'topk-attention', dModel: 8, numHeads: 2, topK: 3, chunkSize: 2 },
    },
  },
);
