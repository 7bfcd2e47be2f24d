import { z } from 'zod';
import { type Estimate, estimateOf, register, type ModuleOptions } from '@attnkit/core';
import { projectedParameters } from './projected';
import { MultiHeadAttention } from './multi-head';
import { attentionFields, type AttentionConfig } from './config';

const positive = z.number().int().positive();

/** 'mha': multi-head attention; GQA when numKvHeads < numHeads (Vaswani et al. 2017; Ainslie et al. 2023). */
export const mhaSchema = z.strictObject({
  type: z.literal('mha'),
  ...attentionFields,
  numKvHeads: positive.optional(),
  window: positive.optional(),
});
/** 'gqa': grouped-query attention, numKvHeads required (Ainslie et al. 2023). */
export const gqaSchema = z.strictObject({
  type: z.literal('gqa'),
  ...attentionFields,
  numKvHeads: positive,
  window: positive.optional(),
});
/** 'mqa': multi-query attention, one shared key/value head (Shazeer 2019). */
export const mqaSchema = z.strictObject({
  type: z.literal('mqa'),
  ...attentionFields,
  window: positive.optional(),
});
/** 'sliding-window': causal attention over the last `window` tokens; with causal: false, ⌊window/2⌋ tokens each side (Beltagy et al. 2020, sec. 3.1; Jiang et al. 2023, Mistral). */
export const slidingWindowSchema = z.strictObject({
  type: z.literal('sliding-window'),
  ...attentionFields,
  numKvHeads: positive.optional(),
  window: positive,
});
/** 'streaming': attention sinks + window, StreamingLLM (Xiao et al. 2023, sec. 3.2). */
export const streamingSchema = z.strictObject({
  type: z.literal('streaming'),
  ...attentionFields,
  numKvHeads: positive.optional(),
  window: positive,
  numSinkTokens: z.number().int().min(1),
});
/** 'cross-attention': queries from x, keys and values from context.memory (Vaswani et al. 2017, sec. 3.2.3). */
export const crossAttentionSchema = z.strictObject({
  type: z.literal('cross-attention'),
  ...attentionFields,
  numKvHeads: positive.optional(),
});

export class CrossAttention extends MultiHeadAttention {
  protected override get isCross(): boolean {
    return true;
  }
}

/** What the multi-head family allocates, before building: projections, QK norms, sinks. */
function estimateMultiHead(c: AttentionConfig): Estimate {
  const layout = c.type === 'mqa' ? { ...c, numKvHeads: 1 } : c;
  return estimateOf(projectedParameters(layout) + (c.sinkLogit ? c.numHeads : 0));
}

const mixer = { category: 'mixer', estimate: estimateMultiHead };
register('mha', (c: AttentionConfig, o: ModuleOptions) => new MultiHeadAttention(c, o), mhaSchema, {
  ...mixer,
  info: {
    paper: 'Vaswani et al. 2017, Attention Is All You Need',
    equation: 'sec. 3.2.2',
    summary: 'Multi-head scaled dot-product attention (GQA when numKvHeads < numHeads).',
    example: { type: 'mha', dModel: 8, numHeads: 2 },
  },
});
register('gqa', (c: AttentionConfig, o: ModuleOptions) => new MultiHeadAttention(c, o), gqaSchema, {
  ...mixer,
  info: {
    paper: 'Ainslie et al. 2023, GQA',
    equation: 'sec. 2.2',
    summary: 'Grouped-query attention: groups of query heads share a key/value head.',
    example: { type: 'gqa', dModel: 8, numHeads: 4, numKvHeads: 2 },
  },
});
register(
  'mqa',
  (c: AttentionConfig, o: ModuleOptions) => new MultiHeadAttention(c, o), // one kv head
  mqaSchema,
  {
    ...mixer,
    info: {
      paper: 'Shazeer 2019, Fast Transformer Decoding: One Write-Head is All You Need',
      equation: 'sec. 3',
      summary: 'Multi-query attention: one key/value head shared by all query heads.',
      example: { type: 'mqa', dModel: 8, numHeads: 2 },
    },
  },
);
register(
  'sliding-window',
  (c: AttentionConfig, o: ModuleOptions) => new MultiHeadAttention(c, o),
  slidingWindowSchema,
  {
    ...mixer,
    info: {
      paper: 'Beltagy et al. 2020, Longformer; Jiang et al. 2023, Mistral 7B',
      summary:
        'Causal attention over the last `window` tokens; with causal: false, ⌊window/2⌋ each side.',
      example: { type: 'sliding-window', dModel: 8, numHeads: 2, window: 4 },
    },
  },
);
register(
  'streaming',
  (c: AttentionConfig, o: ModuleOptions) => new MultiHeadAttention(c, o),
  streamingSchema,
  {
    ...mixer,
    info: {
      paper: 'Xiao et al. 2023, Efficient Streaming Language Models with Attention Sinks',
      equation: 'sec. 3.2',
      summary: 'Attention sinks plus a sliding window (StreamingLLM).',
      example: { type: 'streaming', dModel: 8, numHeads: 2, window: 4, numSinkTokens: 1 },
    },
  },
);
register(
  'cross-attention',
  (c: AttentionConfig, o: ModuleOptions) => new CrossAttention(c, o),
  crossAttentionSchema,
  {
    ...mixer,
    info: {
      paper: 'Vaswani et al. 2017, Attention Is All You Need',
      equation: 'sec. 3.2.3',
      summary: 'Queries from x, keys and values from context.memory.',
      example: { type: 'cross-attention', dModel: 8, numHeads: 2 },
    },
  },
);
