import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  MASK_NEGATIVE,
  SOFTMAX_CAPABILITIES,
  ShapeError,
  estimateOf,
  gatherRows,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { blockSparseAttention } from '../ops/block-sparse';
import { blockGeometry } from '../ops/block-sparse-mask';
import { blockKeyMeans, topEarlierBlocks } from '../ops/moba';
import { tokenBlockAttention } from '../ops/token-block-sparse';
import { checkMixerInput, inputPositions, mergeHeads } from '../softmax/heads';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';
import { reportSelection } from './probe';
import { reorderTokens, waltWindows, type WaltWindows } from './walt-attention';

/*
 * Coarse-to-fine attention (Deng et al. 2017, "Image-to-Markup Generation with Coarse-to-Fine
 * Attention", sec. 3, coarse-to-fine attention): attention factorises over regions r of
 * B tokens, p(j) = α'_r · α_{j|r} for key j in region r, the coarse α' over region summaries
 * (here the mean key k̄_r) and the fine α_{j|r} normalised inside the region:
 *   o_i = Σ_{r ∈ S_i} α'_{i,r} Σ_{j ∈ r} α_{ij|r} v_j,
 *   α'_{i,·} = softmax_{r ∈ S_i}(q_i·k̄_r/√d),  α_{ij|r} = softmax_{j ∈ r}(q_i·k_j/√d),
 * S_i the `topk` regions of highest coarse score (the paper's hard / sparsemax support, made
 * deterministic as a top-k). Causal: S_i is the query's own region, summarised by the mean of
 * its keys up to i and attended causally, plus the topk − 1 best completed regions. Over a
 * grid (encoder), the regions are B×B squares: the tokens are put in region-major order first.
 */

const positive = z.number().int().positive();

export const coarseToFineAttentionSchema = z.strictObject({
  type: z.literal('coarse-to-fine-attention'),
  dModel: positive,
  numHeads: positive,
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** B, tokens per region (must divide the length unless causal); over a grid, B×B regions. */
  regionSize: positive,
  /** Regions per query (causal: the own region included). */
  topk: positive,
  /** Only earlier keys: completed regions plus the own region up to the query. */
  causal: z.boolean().optional(),
  /** [height, width] of the tokens in raster order (encoder): B×B regions, B dividing both. */
  grid: z.tuple([positive, positive]).optional(),
  /** 'gather' (default): only the selected regions' keys; 'dense': the same selection over full [T, T] logits (the reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type CoarseToFineAttentionConfig = z.infer<typeof coarseToFineAttentionSchema>;

export interface CoarseToFineOptions {
  regionSize: number;
  topk: number;
  causal?: boolean;
  form?: 'gather' | 'dense';
}

/**
 * Coarse-to-fine attention over heads: q [b, h, tq, d] at positions tk − tq, ... (end-aligned),
 * k, v [b, h, tk, ·]. Returns the output [b, h, tq, dv] and the selected regions
 * [b, h, tq, topk] (int32, -1 = empty slot; causal: slot 0 is the own region).
 */
export function coarseToFineAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: CoarseToFineOptions,
  block = 'coarseToFineAttention',
): { output: tf.Tensor4D; selected: tf.Tensor4D } {
  const [b, h, tq, d] = q.shape;
  const tk = k.shape[2];
  const B = options.regionSize;
  const causal = options.causal ?? false;
  const regions = Math.ceil(tk / B);
  if (!causal && tk % B !== 0) {
    throw new ShapeError(block, 'x', `a length divisible by regionSize=${B}`, `${tk} tokens`);
  }
  if (!causal && options.topk > regions) {
    throw new ShapeError(
      block,
      'x',
      `at least topk=${options.topk} regions of ${B} tokens`,
      `${tk} tokens (${regions} regions)`,
    );
  }
  const scale = 1 / Math.sqrt(d);
  const offset = tk - tq;
  return tf.tidy(() => {
    const means = blockKeyMeans(k, B); // [b, h, full regions, d]
    // The selection is data (topk has no gradient); the coarse weights below are on the tape.
    let selected: tf.Tensor4D;
    if (causal) {
      const own = Int32Array.from({ length: tq }, (_, i) => Math.floor((offset + i) / B));
      const ownSlot = tf.broadcastTo(tf.tensor4d(own, [1, 1, tq, 1], 'int32'), [b, h, tq, 1]);
      const rest = options.topk - 1;
      const earlier = !rest
        ? null
        : means
          ? topEarlierBlocks(tf.matMul(q, means, false, true) as tf.Tensor4D, B, rest, offset)
          : tf.fill([b, h, tq, rest], -1, 'int32');
      selected = (earlier ? tf.concat([ownSlot, earlier], 3) : ownSlot) as tf.Tensor4D;
    } else {
      const top = tf.topk(tf.matMul(q, means!, false, true), options.topk).indices;
      selected = tf.tensor4d(top.dataSync(), [b, h, tq, options.topk], 'int32');
    }
    const coarse = coarseLogits(q, k, means, selected, B, causal, scale);
    const output =
      options.form === 'dense'
        ? denseCoarseToFine(q, k, v, selected, coarse, B, causal, scale)
        : gatheredCoarseToFine(q, k, v, selected, coarse, B, causal, scale);
    return { output, selected };
  });
}

/**
 * Coarse logits of the selected regions, [b, h, tq, topk]: q·k̄_r·scale for completed regions,
 * q·(mean of the own region's keys up to the query)·scale for a causal own slot, MASK_NEGATIVE
 * for an empty slot. The region means come from gatherRows, so the coarse weights train.
 */
function coarseLogits(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  means: tf.Tensor4D | null,
  selected: tf.Tensor4D,
  B: number,
  causal: boolean,
  scale: number,
): tf.Tensor4D {
  const [b, h, tq, d] = q.shape;
  const n = selected.shape[3];
  const parts: tf.Tensor[] = [];
  const rest = causal ? n - 1 : n;
  if (rest > 0) {
    const slots = causal ? tf.slice(selected, [0, 0, 0, 1], [-1, -1, -1, rest]) : selected;
    if (means) {
      const full = means.shape[2];
      const base = tf.reshape(tf.range(0, b * h * full, full, 'int32'), [b, h, 1, 1]);
      const index = tf.reshape(
        tf.add(base, tf.maximum(slots, tf.scalar(0, 'int32'))),
        [-1],
      ) as tf.Tensor1D;
      const rows = gatherRows(tf.reshape(means, [b * h * full, d]) as tf.Tensor2D, index);
      const picked = tf.reshape(rows, [b * h * tq, rest, d]);
      const dots = tf.matMul(picked, tf.reshape(q, [b * h * tq, d, 1]));
      const logits = tf.mul(tf.reshape(dots, [b, h, tq, rest]), scale);
      parts.push(tf.where(tf.greaterEqual(slots, 0), logits, tf.fill(logits.shape, MASK_NEGATIVE)));
    } else {
      parts.push(tf.fill([b, h, tq, rest], MASK_NEGATIVE));
    }
  }
  if (causal) {
    // Prefix mean of each region's keys, from a [B, B] averaging matrix: cost tk·B·d, not tk².
    const tk = k.shape[2];
    const regions = Math.ceil(tk / B);
    const avg = tf.tensor2d(
      Array.from(
        { length: B * B },
        (_, i) => (i % B <= Math.floor(i / B) ? 1 : 0) / (1 + Math.floor(i / B)),
      ),
      [B, B],
    );
    const padded = tf.pad(k, [
      [0, 0],
      [0, 0],
      [0, regions * B - tk],
      [0, 0],
    ]);
    const within = tf.reshape(
      tf.transpose(tf.reshape(padded, [b, h, regions, B, d]), [3, 0, 1, 2, 4]),
      [B, -1],
    );
    const prefix = tf.transpose(
      tf.reshape(tf.matMul(avg, within), [B, b, h, regions, d]),
      [1, 2, 3, 0, 4],
    );
    const atQueries = tf.slice(
      tf.reshape(prefix, [b, h, regions * B, d]),
      [0, 0, tk - tq, 0],
      [-1, -1, tq, -1],
    );
    parts.unshift(tf.mul(tf.sum(tf.mul(q, atQueries), -1, true), scale));
  }
  return (parts.length === 1 ? parts[0] : tf.concat(parts, 3)) as tf.Tensor4D;
}

/**
 * The sparse path: each slot's region gathered per query (tokenBlockAttention; the causal own
 * region through blockSparseAttention, causal inside), weighted by the coarse softmax.
 */
function gatheredCoarseToFine(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  selected: tf.Tensor4D,
  coarse: tf.Tensor4D,
  B: number,
  causal: boolean,
  scale: number,
): tf.Tensor4D {
  const [b, h, tq] = q.shape;
  const n = selected.shape[3];
  const weights = tf.softmax(coarse); // [b, h, tq, n]
  let out: tf.Tensor | null = null;
  for (let s = 0; s < n; s++) {
    let fine: tf.Tensor4D;
    if (causal && s === 0) {
      const g = blockGeometry(tq, k.shape[2], B, undefined, 'coarseToFineAttention');
      const own = tf.broadcastTo(
        tf.reshape(
          tf.range(g.firstBlock, g.firstBlock + g.numQueryBlocks, 1, 'int32'),
          [1, 1, -1, 1],
        ),
        [b, h, g.numQueryBlocks, 1],
      ) as tf.Tensor4D;
      fine = blockSparseAttention(q, k, v, {
        blockSize: B,
        selected: own,
        causal: true,
        scale,
      }).output;
    } else {
      const slot = tf.slice(selected, [0, 0, 0, s], [-1, -1, -1, 1]) as tf.Tensor4D;
      fine = tokenBlockAttention(q, k, v, { blockSize: B, selected: slot, scale }).output;
    }
    const term = tf.mul(tf.slice(weights, [0, 0, 0, s], [-1, -1, -1, 1]), fine);
    out = out ? tf.add(out, term) : term;
  }
  return out as tf.Tensor4D;
}

/**
 * The dense reference: full [tq, tk] logits, a softmax inside every region (over its visible
 * keys), each region weighted by its coarse weight (0 unless selected), times V.
 */
function denseCoarseToFine(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  selected: tf.Tensor4D,
  coarse: tf.Tensor4D,
  B: number,
  causal: boolean,
  scale: number,
): tf.Tensor4D {
  const [b, h, tq] = q.shape;
  const tk = k.shape[2];
  const regions = Math.ceil(tk / B);
  const pad = regions * B - tk;
  // Coarse weights scattered to every region: [b, h, tq, regions].
  const hot = tf.oneHot(tf.maximum(selected, tf.scalar(0, 'int32')), regions); // [b, h, tq, n, regions]
  const dense = tf.sum(tf.mul(hot, tf.expandDims(tf.softmax(coarse), -1)), 3);
  // Fine: key j visible when it exists and (causal) is not after the query.
  const visible = Array.from({ length: tq * regions * B }, (_, i) => {
    const j = i % (regions * B);
    const p = tk - tq + Math.floor(i / (regions * B));
    return j < tk && (!causal || j <= p) ? 0 : MASK_NEGATIVE;
  });
  let logits = tf.mul(tf.matMul(q, k, false, true), scale);
  logits = tf.pad(logits, [
    [0, 0],
    [0, 0],
    [0, 0],
    [0, pad],
  ]);
  logits = tf.add(logits, tf.tensor4d(visible, [1, 1, tq, regions * B]));
  const fine = tf.softmax(tf.reshape(logits, [b, h, tq, regions, B]));
  const weights = tf.reshape(tf.mul(fine, tf.expandDims(dense, -1)), [b, h, tq, regions * B]);
  const trimmed = tf.slice(weights, [0, 0, 0, 0], [-1, -1, -1, tk]);
  return tf.matMul(trimmed, v) as tf.Tensor4D;
}

export class CoarseToFineAttention
  extends ProjectedAttention<CoarseToFineAttentionConfig>
  implements TokenMixer
{
  /** Region-major order of the grid's tokens, or null for a sequence. */
  private readonly regions: WaltWindows | null;

  constructor(config: CoarseToFineAttentionConfig, options: ModuleOptions = {}) {
    const c = parseConfig('coarse-to-fine-attention', coarseToFineAttentionSchema, config);
    const regions = c.grid ? gridRegions(c, c.grid) : null;
    super(c, options);
    this.regions = regions;
  }

  /** Encoder, or causal-only with a KV cache; rotary on q and k; no masks or weights map. */
  override get capabilities(): MixerCapabilities {
    const causal = this.config.causal ?? false;
    return {
      ...SOFTMAX_CAPABILITIES,
      decoding: causal,
      causal: causal ? 'only' : 'never',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: causal ? 'linear' : 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): KVCache {
    return new KVCache();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const c = this.config;
    const cache = checkMixerInput(c.type, x, c.dModel, context, KVCache, this.capabilities);
    let positions = inputPositions(c.type, context, x.shape[1], cache?.length ?? 0);
    const r = this.regions;
    if (r && x.shape[1] !== r.order.length) {
      throw new ShapeError(
        c.type,
        'x',
        `${r.order.length} tokens (grid ${c.grid!.join('×')})`,
        `${x.shape[1]} tokens`,
      );
    }
    return tf.tidy(() => {
      // Over a grid: region-major order (each token keeps its own position for rotary).
      const input = r ? reorderTokens(x, r.order) : x;
      if (r) positions = Array.from(r.order, (token) => positions[token]!);
      const { q, keys, values } = this.projectSelf(input, positions, context.positional, cache);
      const regionSize = r ? r.size : c.regionSize;
      const { output, selected } = coarseToFineAttention(
        q,
        keys,
        values,
        { ...c, regionSize },
        c.type,
      );
      reportSelection(c.type, context, 'selectedRegions', selected);
      if (!r) return this.mergeAndProject(output);
      return this.o.forward(reorderTokens(mergeHeads(output), r.inverse)) as tf.Tensor3D;
    });
  }
}

/** B×B regions of a grid, checked before any weight (encoder only). */
function gridRegions(c: CoarseToFineAttentionConfig, grid: [number, number]): WaltWindows {
  if (c.causal) {
    throw new ConfigError(c.type, '$.grid', 'no grid when causal (a 1-D sequence)', 'a grid');
  }
  const B = c.regionSize;
  if (grid[0] % B !== 0 || grid[1] % B !== 0) {
    throw new ConfigError(
      c.type,
      '$.regionSize',
      `a divisor of the grid's height and width ${grid.join('×')}`,
      String(B),
    );
  }
  return waltWindows({ type: c.type, grid: [1, grid[0], grid[1]], windowSize: B });
}

register(
  'coarse-to-fine-attention',
  (c: CoarseToFineAttentionConfig, o: ModuleOptions) => new CoarseToFineAttention(c, o),
  coarseToFineAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: CoarseToFineAttentionConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper: 'Deng et al. 2017, Image-to-Markup Generation with Coarse-to-Fine Attention',
      equation: 'sec. 3, coarse-to-fine attention: p(j) = α′_r · α_{j|r}',
      summary:
        'Coarse attention over mean-key region summaries picks the top-k regions per query; fine attention inside each, weighted by the coarse softmax.',
      example: {
        type: 'coarse-to-fine-attention',
        dModel: 8,
        numHeads: 2,
        regionSize: 2,
        topk: 2,
        causal: true,
      },
    },
  },
);
