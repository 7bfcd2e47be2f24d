import { z } from 'zod';

/** Fields every linear-attention mixer shares; each type adds its own. */
export const linearFields = {
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  /** Key/value heads shared by groups of query heads (default numHeads). */
  numKvHeads: z.number().int().positive().optional(),
  /** Width per head; default dModel / numHeads. */
  headDim: z.number().int().positive().optional(),
  /** Biases on the q/k/v/o projections. */
  bias: z.boolean().optional(),
  /** Causal (default true); the context can only narrow it. */
  causal: z.boolean().optional(),
  /** Training form of the linear-attention op: 'chunk' (default) or 'parallel'. */
  form: z.enum(['chunk', 'parallel']).optional(),
  /** Tokens per chunk of the chunked form (default 64). */
  chunkSize: z.number().int().positive().optional(),
};

export const linearConfigSchema = z.object({ ...linearFields });

/** A linear-attention mixer's config: the shared fields and its type. */
export type LinearConfig = { type: string } & z.input<typeof linearConfigSchema>;
