import { z } from 'zod';
import { estimateOf, parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { attentionFields } from '../softmax/config';
import { projectedParameters } from '../softmax/projected';
import { HeadPatternAttention, patternForm, span } from './head-pattern-base';

const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

export const s2AttentionSchema = z
  .strictObject({
    type: z.literal('s2-attention'),
    dModel,
    numHeads,
    headDim,
    bias,
    qkNorm,
    /** Shards (stride) of the context; head h reads the shard of positions ≡ h mod numShards. */
    numShards: z.number().int().positive(),
    /** Dense local window every head also reads (the hybrid design); 1 = itself only. */
    window: z.number().int().positive(),
    form: patternForm,
  })
  .refine((c) => c.numShards <= c.numHeads, {
    path: ['numShards'],
    message: 'at most numHeads, so that the heads together cover every shard',
  });

export type S2AttentionConfig = z.infer<typeof s2AttentionSchema>;

/**
 * S2-Attention (Lin et al. 2024, "S2-Attention: Hardware-Aware Context Sharding Among
 * Attention Heads"; its head-heterogeneous strided design, HHST): heads share the context out in
 * strided shards. Head h's query at token i attends to
 *   S_h(i) = { j ≤ i : j ≡ h (mod numShards) } ∪ { j : i - window < j ≤ i },
 * softmax(q_i K[S_h(i)]ᵀ/√d) V[S_h(i)]: a shard of stride numShards (heads h and h + numShards
 * share one), plus the dense local window of the paper's hybrid design. Every head reads about
 * i/numShards + window keys, and numShards ≤ numHeads heads together read every key.
 */
export class S2Attention extends HeadPatternAttention<S2AttentionConfig> {
  constructor(config: S2AttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('s2-attention', s2AttentionSchema, config), options);
  }

  protected keysOf(head: number, i: number): Iterable<number> {
    return s2Keys(head, i, this.config.numShards, this.config.window);
  }
}

/** Keys of head `head`'s query at token i: its shard before the window, then the window. */
export function* s2Keys(
  head: number,
  i: number,
  numShards: number,
  window: number,
): Generator<number> {
  for (let j = head % numShards; j <= i - window; j += numShards) yield j;
  yield* span(i - window + 1, i);
}

register(
  's2-attention',
  (c: S2AttentionConfig, o: ModuleOptions) => new S2Attention(c, o),
  s2AttentionSchema,
  {
    category: 'mixer',
    estimate: (c: S2AttentionConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper: 'Lin et al. 2024, S2-Attention: Hardware-Aware Context Sharding Among Attention Heads',
      equation: 'HHST: head-heterogeneous strided shards + dense local window',
      summary:
        'Each head attends to a strided shard of the context (j ≡ h mod numShards) plus a local window; the heads together cover it.',
      example: { type: 's2-attention', dModel: 8, numHeads: 2, numShards: 2, window: 2 },
    },
  },
);
