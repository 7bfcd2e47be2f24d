// HiP attention (Lee et al. 2024, "A Training-free Sub-quadratic Cost Transformer Model Serving
// Framework With Hierarchically Pruned Attention", sec. 3.1, Algorithm 1): the earlier key blocks
// start as k coarse chunks; at each level every chunk of more than one block is split in two, each
// half is scored by its representative key (its first token, as the paper's branch
// representative) as max_{s in query block} q_s · k_rep, and the k best survive; at one block per
// chunk the survivors are the selection. Causal: a query keeps its own block (causal inside) and
// its block's queries up to itself form the query block (the paper's block at its last query),
// so cached decoding equals the full forward. k = topK - 1. Training-free: no parameters of its own.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  estimateOf,
  parseConfig,
  register,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { projectedParameters } from '../softmax/projected';
import { BlockSelectingAttention, OpenBlockState } from './block-selecting';

const BLOCK = 'hip-attention';
const positive = z.number().int().positive();

export const hipAttentionSchema = z.strictObject({
  type: z.literal('hip-attention'),
  dModel: positive,
  numHeads: positive,
  numKvHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** Tokens per key block and query block (the finest level, B). */
  blockSize: positive,
  /** Blocks each query attends to, its own included (k + 1). */
  topK: positive,
  /** 'gather' (default) gathers the selected blocks; 'dense' masks full attention (reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type HipAttentionConfig = z.infer<typeof hipAttentionSchema>;

/** The KV cache plus the queries of the open block (the query block of the next ones). */
export class HipAttentionState extends OpenBlockState {}

/**
 * Algorithm 1 over `blocks` earlier key blocks for one query: keeps `take` of them. `score(j)`
 * scores the chunk starting at block j by its first key. Returns the kept block indices.
 */
export function hierarchicalTopBlocks(
  blocks: number,
  take: number,
  score: (block: number) => number,
): number[] {
  if (blocks <= take) return Array.from({ length: blocks }, (_, j) => j);
  // Coarse level: `take` chunks of near-equal size, as [lo, hi) block ranges.
  let chunks = Array.from({ length: take }, (_, i) => [
    Math.floor((i * blocks) / take),
    Math.floor(((i + 1) * blocks) / take),
  ]);
  while (chunks.some(([lo, hi]) => hi! - lo! > 1)) {
    const halves = chunks.flatMap(([lo, hi]) => {
      if (hi! - lo! === 1) return [[lo!, hi!]];
      const mid = lo! + Math.ceil((hi! - lo!) / 2);
      return [
        [lo!, mid],
        [mid, hi!],
      ];
    });
    const scored = halves.map((c) => ({ c, s: score(c[0]!) }));
    // Highest first; ties to the earlier chunk.
    scored.sort((a, b) => b.s - a.s || a.c[0]! - b.c[0]!);
    chunks = scored.slice(0, take).map((x) => x.c);
  }
  return chunks.map(([lo]) => lo!).sort((a, b) => a - b);
}

/** HiP attention over projected heads (GQA when numKvHeads < numHeads); causal only. */
export class HipAttention
  extends BlockSelectingAttention<HipAttentionConfig, HipAttentionState>
  implements TokenMixer
{
  protected readonly block = BLOCK;
  protected readonly stateClass = HipAttentionState;

  constructor(config: HipAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig(BLOCK, hipAttentionSchema, config), options);
  }

  /**
   * Algorithm 1 per query: int32 [b, h, tq, max(topK - 1, 1)] earlier key blocks, -1 where fewer
   * are kept. Off the tape (the choice is data); scores only the chunks' representative keys.
   */
  protected select(q: tf.Tensor4D, keys: tf.Tensor4D, state?: HipAttentionState): tf.Tensor4D {
    const { blockSize: B, topK } = this.config;
    const [b, h, tq, d] = q.shape;
    const kvh = keys.shape[1];
    const tk = keys.shape[2];
    const offset = tk - tq;
    const take = topK - 1;
    const width = Math.max(take, 1);
    const open = state?.openQueries;
    const all = tf.tidy(() => (offset % B > 0 && open ? tf.concat([open, q], 2) : tf.clone(q)));
    const start = all.shape[2] - tq; // all's first row sits at position offset - start
    if (state) {
      const rest = (offset + tq) % B;
      state.setOpenQueries(
        rest > 0
          ? (tf.slice(all, [0, 0, all.shape[2] - rest, 0], [-1, -1, rest, -1]) as tf.Tensor4D)
          : null,
      );
    }
    const out = new Int32Array(b * h * tq * width).fill(-1);
    if (take > 0 && tk > B) {
      const qs = all.dataSync();
      const ks = keys.dataSync();
      const rows = all.shape[2];
      for (let bi = 0; bi < b; bi++) {
        for (let hi = 0; hi < h; hi++) {
          const kBase = (bi * kvh + Math.floor((hi * kvh) / h)) * tk * d;
          const qBase = (bi * h + hi) * rows * d;
          for (let t = 0; t < tq; t++) {
            const p = offset + t;
            const own = Math.floor(p / B);
            const first = own * B - (offset - start);
            const last = start + t;
            // max over the query block (up to this query) of q_s · k_rep, rep = first key of block j.
            const score = (j: number) => {
              let best = -Infinity;
              for (let r = first; r <= last; r++) {
                let dot = 0;
                for (let i = 0; i < d; i++)
                  dot += qs[qBase + r * d + i]! * ks[kBase + j * B * d + i]!;
                if (dot > best) best = dot;
              }
              return best;
            };
            const kept = hierarchicalTopBlocks(own, take, score);
            const at = ((bi * h + hi) * tq + t) * width;
            kept.forEach((j, n) => (out[at + n] = j));
          }
        }
      }
    }
    all.dispose();
    return tf.tensor4d(out, [b, h, tq, width], 'int32');
  }
}

register(
  BLOCK,
  (c: HipAttentionConfig, o: ModuleOptions) => new HipAttention(c, o),
  hipAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: HipAttentionConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper:
        'Lee et al. 2024, A Training-free Sub-quadratic Cost Transformer Model Serving Framework With Hierarchically Pruned Attention (HiP)',
      equation: 'sec. 3.1, Algorithm 1',
      summary:
        'Causal block attention: the earlier key blocks are pruned hierarchically (k coarse chunks, each split in two and scored by its first key against the query block, the top k kept, down to single blocks); each query attends to its own block and the k = topK - 1 kept.',
      example: { type: 'hip-attention', dModel: 8, numHeads: 2, blockSize: 2, topK: 3 },
    },
  },
);
