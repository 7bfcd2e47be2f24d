import { z } from 'zod';

/** Fields every softmax-attention mixer shares; each type narrows or requires some. */
export const attentionFields = {
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  /** Width per head; default dModel / numHeads. */
  headDim: z.number().int().positive().optional(),
  /** Biases on the q/k/v/o projections. */
  bias: z.boolean().optional(),
  /** Causal self-attention (default true); the context can only narrow it. */
  causal: z.boolean().optional(),
  /** Normalise q and k per head before the dot product. */
  qkNorm: z.enum(['rms', 'layer', 'l2']).optional(),
  logitSoftcap: z.number().positive().optional(),
  /** A learned sink logit per head in the softmax denominator. */
  sinkLogit: z.boolean().optional(),
  /** Dropout on the attention weights in training. */
  dropout: z.number().min(0).lt(1).optional(),
  /** Run the chunked online-softmax form with this chunk size. */
  chunkSize: z.number().int().positive().optional(),
  /**
   * Weights from the logits by a name in core's `normalizers`: 'softmax' (default), 'sparsemax',
   * 'entmax15' or a registered one; not softmax needs no chunkSize and no sinkLogit.
   */
  normalizer: z.string().optional(),
};

/** The options of the multi-head family's schemas together (mha, gqa, mqa, windows, cross). */
export const attentionConfigSchema = z.object({
  ...attentionFields,
  numKvHeads: z.number().int().positive().optional(),
  window: z.number().int().positive().optional(),
  numSinkTokens: z.number().int().min(1).optional(),
});

/** A multi-head attention config: the shared fields, the head layout and the window options. */
export type AttentionConfig = { type: string } & z.input<typeof attentionConfigSchema>;
