import { z } from 'zod';

/** The options of the retrieval-memory mixers (knn-memory, retrieval-attention). */
export const retrievalFields = {
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  /** Width per head; default dModel / numHeads. */
  headDim: z.number().int().positive().optional(),
  /** Biases on the q/k/v/o projections. */
  bias: z.boolean().optional(),
  /** Normalise q and k per head (the paper normalises them against staleness, sec. 3.2). */
  qkNorm: z.enum(['rms', 'layer', 'l2']).optional(),
  /** Tokens per segment: local attention spans the current segment; memory gets it at its end. */
  segmentLength: z.number().int().positive(),
  /**
   * Local attention also sees the previous segment (a Transformer-XL cache) through a sliding
   * window of segmentLength (the paper's setup, sec. 3). Default: true for knn-memory, false for
   * retrieval-attention.
   */
  xlCache: z.boolean().optional(),
  /** Memories retrieved per query and head. */
  topK: z.number().int().positive(),
  /** Most memory entries per sequence and head; then the oldest (or least used) go. */
  capacity: z.number().int().positive(),
  eviction: z.enum(['fifo', 'lru']).optional(),
  /** Exact search, or an IVF index (nlist lists, nprobe probed). */
  index: z.enum(['exact', 'ivf']).optional(),
  nlist: z.number().int().positive().optional(),
  nprobe: z.number().int().positive().optional(),
  /** How local and memory attention combine: the learned gate, or one softmax (merged). */
  combine: z.enum(['gate', 'merge']).optional(),
  /** Most bytes a decoding state's memories may take (checked in initState). Default 2 GiB. */
  maxMemoryBytes: z.number().int().positive().optional(),
};

type Fields = { [K in keyof typeof retrievalFields]: z.infer<(typeof retrievalFields)[K]> };

/** Index options are consistent: IVF needs nlist and nprobe, nprobe <= nlist <= capacity. */
export function refineRetrieval<T extends z.ZodType<Partial<Fields>>>(schema: T, index: string) {
  return schema.superRefine((c, ctx) => {
    if ((c.index ?? index) !== 'ivf') return;
    for (const key of ['nlist', 'nprobe'] as const) {
      if (c[key] === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'set with index ivf' });
      }
    }
    if (c.nlist !== undefined && c.nprobe !== undefined && c.nprobe > c.nlist) {
      ctx.addIssue({ code: 'custom', path: ['nprobe'], message: `<= nlist=${c.nlist}` });
    }
    if (c.nlist !== undefined && c.capacity !== undefined && c.nlist > c.capacity) {
      ctx.addIssue({ code: 'custom', path: ['nlist'], message: `<= capacity=${c.capacity}` });
    }
  });
}

export const knnMemorySchema = refineRetrieval(
  z.strictObject({ type: z.literal('knn-memory'), ...retrievalFields }),
  'exact',
);
export const retrievalAttentionSchema = refineRetrieval(
  z.strictObject({ type: z.literal('retrieval-attention'), ...retrievalFields }),
  'ivf',
);

export type RetrievalMemoryConfig =
  z.input<typeof knnMemorySchema> | z.input<typeof retrievalAttentionSchema>;
