import { z } from 'zod';
import { estimateOf, parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { attentionFields } from '../softmax/config';
import { projectedParameters } from '../softmax/projected';
import { HeadPatternAttention, patternForm, span } from './head-pattern-base';

const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

/** One head's elastic rule: span S(N) = alpha + beta·N keys (Fu et al. 2024). */
export const elasticRule = z.strictObject({
  alpha: z.number().min(0),
  beta: z.number().min(0).max(1),
});
export type ElasticRule = z.infer<typeof elasticRule>;

export const mixtureOfSparseAttentionSchema = z
  .strictObject({
    type: z.literal('mixture-of-sparse-attention'),
    dModel,
    numHeads,
    headDim,
    bias,
    qkNorm,
    /** One elastic rule per head (found offline by MoA's search; given here). */
    rules: z.array(elasticRule).min(1),
    /** Initial (sink) tokens every head also attends to (default 0). */
    numSinkTokens: z.number().int().min(0).optional(),
    form: patternForm,
  })
  .refine((c) => c.rules.length === c.numHeads, {
    path: ['rules'],
    message: 'one { alpha, beta } rule per head (numHeads of them)',
  });

export type MixtureOfSparseAttentionConfig = z.infer<typeof mixtureOfSparseAttentionSchema>;

/** Head h's window at sequence length N: ⌊α_h + β_h·N⌋ keys, at least 1 (itself), at most N. */
export function elasticSpan(rule: ElasticRule, length: number): number {
  return Math.min(length, Math.max(1, Math.floor(rule.alpha + rule.beta * length)));
}

/**
 * MoA, mixture of sparse attention (Fu et al. 2024, "MoA: Mixture of Sparse Attention for
 * Automatic Large Language Model Compression"; later "Mixture of Attention Spans"): each head
 * h is a sliding window with an elastic span S_h(N) = α_h + β_h·N that scales with the sequence length N,
 * plus the initial (sink) tokens. The query at token i sees the sequence 0..i, so N = i + 1:
 *   keys(h, i) = { j : i - S_h(i + 1) < j ≤ i } ∪ { j < numSinkTokens, j ≤ i }.
 * The rules are config (the paper finds them offline by profiling and search). Because N
 * grows with i, a head with β_h > 0 widens its window while decoding; cached == full, and the
 * cache keeps every key.
 */
export class MixtureOfSparseAttention extends HeadPatternAttention<MixtureOfSparseAttentionConfig> {
  constructor(config: MixtureOfSparseAttentionConfig, options: ModuleOptions = {}) {
    super(
      parseConfig('mixture-of-sparse-attention', mixtureOfSparseAttentionSchema, config),
      options,
    );
  }

  protected keysOf(head: number, i: number): Iterable<number> {
    return moaKeys(this.config.rules[head]!, i, this.config.numSinkTokens ?? 0);
  }
}

/** Keys of a head with `rule` for the query at token i: the sinks, then its elastic window. */
export function* moaKeys(rule: ElasticRule, i: number, sinks: number): Generator<number> {
  const width = elasticSpan(rule, i + 1);
  yield* span(0, Math.min(i - width, sinks - 1));
  yield* span(i - width + 1, i);
}

register(
  'mixture-of-sparse-attention',
  (c: MixtureOfSparseAttentionConfig, o: ModuleOptions) => new MixtureOfSparseAttention(c, o),
  mixtureOfSparseAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: MixtureOfSparseAttentionConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper:
        'Fu et al. 2024, MoA: Mixture of Sparse Attention for Automatic Large Language Model Compression',
      equation: 'elastic rule: span S_h(N) = α_h + β_h·N per head, plus initial tokens',
      summary:
        'Per-head sliding windows whose span grows with the sequence length (α_h + β_h·N), plus initial sink tokens.',
      example: {
        type: 'mixture-of-sparse-attention',
        dModel: 8,
        numHeads: 2,
        rules: [
          { alpha: 2, beta: 0 },
          { alpha: 1, beta: 0.5 },
        ],
        numSinkTokens: 1,
      },
    },
  },
);
