// Landmark attention as a token mixer (Mohtashami & Jaggi 2023, "Landmark Attention: Random-Access
// Infinite Context Length for Transformers", sec. 3.1 eq. 1-3 in training, sec. 3.2 retrieval at
// inference). The input already holds a landmark after every blockSize tokens (decoder-lm's
// `landmark` option inserts them); the mixer finds them by position, so it needs no extra
// context and its decoding state is a plain KV cache.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  SOFTMAX_CAPABILITIES,
  ShapeError,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import {
  KVCache,
  ProjectedAttention,
  checkMixerInput,
  inputPositions,
  projectedParameters,
} from '@attnkit/attention';
import { landmarkGroupedAttention } from './grouped-softmax';
import { landmarkRetrievalAttention } from './retrieval';

const positive = z.number().int().positive();

export const landmarkAttentionSchema = z.strictObject({
  type: z.literal('landmark-attention'),
  dModel: positive,
  numHeads: positive,
  numKvHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** Regular tokens per block (ℓ_block); a landmark follows each block. */
  blockSize: positive,
  /**
   * Blocks retrieved per query and head outside training (k of the paper); absent: the grouped
   * softmax over every block, always (exact, O(T²)).
   */
  topK: positive.optional(),
  /** With topK: blocks just before a query's own that it always reads (a local window). */
  localBlocks: z.number().int().nonnegative().optional(),
});
export type LandmarkAttentionConfig = z.infer<typeof landmarkAttentionSchema>;

/**
 * Multi-head landmark attention (GQA when numKvHeads < numHeads), causal only. Training runs
 * the grouped softmax; with `topK`, every other call retrieves the topK blocks per query and
 * head by their landmarks and attends them, the `localBlocks` before its own and its own block
 * (full == cached decoding).
 */
export class LandmarkAttention
  extends ProjectedAttention<LandmarkAttentionConfig & { causal?: boolean }>
  implements TokenMixer
{
  constructor(config: LandmarkAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('landmark-attention', landmarkAttentionSchema, config), options);
  }

  /** Tokens per block, landmark excluded: a model inserting landmarks must use the same. */
  get landmarkBlockSize(): number {
    return this.config.blockSize;
  }

  /** Causal only; rotary on q and k; no masks, segment ids, weights map, head control or prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(): KVCache {
    return new KVCache();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { type: block, dModel, blockSize, topK, localBlocks } = this.config;
    const state = checkMixerInput(block, x, dModel, context, KVCache, this.capabilities);
    const positions = inputPositions(block, context, x.shape[1], state ? state.length : 0);
    return tf.tidy(() => {
      const projected = this.projectSelf(x, positions, context.positional, state);
      const { q, keys, values } = projected;
      const keyOffset = alignedKeys(block, positions, projected.keyPositions);
      const options = { blockSize, keyOffset };
      let output: tf.Tensor4D;
      if (topK === undefined || context.training) {
        output = landmarkGroupedAttention(q, keys, values, options).output;
      } else {
        const r = landmarkRetrievalAttention(q, keys, values, { ...options, topK, localBlocks });
        reportBlocks(block, context, r.selected);
        output = r.output;
      }
      return this.mergeAndProject(output);
    });
  }
}

/**
 * Keys must be consecutive from a block boundary (the op checks the boundary) and end where the
 * queries end; returns the position of key 0.
 */
function alignedKeys(block: string, queries: number[], keys: number[]): number {
  const first = keys[0]!;
  const ok =
    keys.every((p, i) => p === first + i) &&
    queries.every((p, i) => p === first + keys.length - queries.length + i);
  if (!ok) {
    throw new ShapeError(
      block,
      'context.positions',
      'consecutive positions continuing the cached keys (landmarks are found by position)',
      `queries at ${queries[0]}..${queries[queries.length - 1]}, keys at ${first}..${keys[keys.length - 1]}`,
    );
  }
  return first;
}

/** The blocks the last query retrieved, per batch row and head, for `context.probe`. */
function reportBlocks(block: string, context: MixerContext, selected: tf.Tensor4D): void {
  if (!context.probe) return;
  const [b, h, tq, k] = selected.shape;
  const last = tf.tidy(() =>
    tf.reshape(tf.slice(selected, [0, 0, tq - 1, 0], [-1, -1, 1, -1]), [b * h, k]),
  );
  context.probe({
    block,
    path: context.path ?? '',
    name: 'retrievedBlocks',
    value: (last.arraySync() as number[][]).flat(),
  });
  last.dispose();
}

register(
  'landmark-attention',
  (c: LandmarkAttentionConfig, o: ModuleOptions) => new LandmarkAttention(c, o),
  landmarkAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: LandmarkAttentionConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper:
        'Mohtashami & Jaggi 2023, Landmark Attention: Random-Access Infinite Context Length for Transformers',
      equation: 'sec. 3.1, eq. 1-3 (grouped softmax); sec. 3.2 (top-k block retrieval)',
      summary:
        'A landmark token closes every block; its attention share gates the block (grouped softmax), and at inference each query retrieves its topK blocks by landmark score.',
      example: { type: 'landmark-attention', dModel: 8, numHeads: 2, blockSize: 2, topK: 1 },
    },
  },
);
