import * as tf from '@tensorflow/tfjs-core';
import { gatherAxis } from '../ops/gather-axis';
import { z } from 'zod';
import {
  MASK_NEGATIVE,
  ShapeError,
  estimateOf,
  formatShape,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { scaledDotProductAttention } from '../ops/sdpa';
import { attentionFields } from '../softmax/config';
import { checkMixerInput } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';
import { patternForm } from './head-pattern-base';

const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

export const haloAttentionSchema = z
  .strictObject({
    type: z.literal('halo-attention'),
    dModel,
    numHeads,
    headDim,
    bias,
    qkNorm,
    /** Block b (b×b in 2-D): the queries attend together; divides the length (each grid side). */
    blockSize: z.number().int().positive(),
    /** Halo h: the block's keys extend h tokens past each side of it (0 = non-overlapping). */
    halo: z.number().int().nonnegative(),
    /** `[height, width]`: tokens are a row-major grid (2-D blocks); absent: a 1-D sequence. */
    grid: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
    /** Learned relative position logits q·(r_Δy + r_Δx) (default true). */
    relativePositions: z.boolean().optional(),
    /** 'gather' (default) attends block by block; 'dense' is the exact masked T×T reference. */
    form: patternForm,
  })
  .refine((c) => !c.grid || c.grid.every((side) => side % c.blockSize === 0), {
    path: ['blockSize'],
    message: 'a divisor of both grid sides',
  });

export type HaloAttentionConfig = z.infer<typeof haloAttentionSchema>;

/** Index tables of the blocked layout; tokens are row-major over `sides`. */
export interface HaloLayout {
  blocks: number;
  /** Queries per block (b or b²) and keys per window ((b + 2h) or (b + 2h)²). */
  queries: number;
  window: number;
  /** `[blocks·queries]`: the token of each block's query slot (a permutation of 0..T-1). */
  queryTokens: Int32Array;
  /** `[blocks·window]`: the token of each window slot, -1 where it falls in the zero padding. */
  keyTokens: Int32Array;
  /** Per axis, [queries·window]: Δ + b - 1 + h, Δ = key − query coordinate on that axis. */
  relative: Int32Array[];
}

/** The blocked layout of a sequence (sides [T]) or grid (sides [height, width]). */
export function haloLayout(sides: number[], blockSize: number, halo: number): HaloLayout {
  const b = blockSize;
  const span = b + 2 * halo;
  const perAxis = sides.map((side) => side / b);
  const blocks = perAxis.reduce((p, n) => p * n, 1);
  const queries = b ** sides.length;
  const window = span ** sides.length;
  // Row-major coordinates of slot s in a box of `edge` per axis.
  const coords = (s: number, edge: number) =>
    sides.length === 1 ? [s] : [Math.floor(s / edge), s % edge];
  const token = (c: number[]) => (c.length === 1 ? c[0]! : c[0]! * sides[1]! + c[1]!);
  const queryTokens = new Int32Array(blocks * queries);
  const keyTokens = new Int32Array(blocks * window);
  for (let n = 0; n < blocks; n++) {
    const origin = coords(n, perAxis[1] ?? 1).map((c) => c * b);
    for (let r = 0; r < queries; r++) {
      queryTokens[n * queries + r] = token(coords(r, b).map((c, a) => origin[a]! + c));
    }
    for (let w = 0; w < window; w++) {
      const c = coords(w, span).map((x, a) => origin[a]! - halo + x);
      const inside = c.every((x, a) => x >= 0 && x < sides[a]!);
      keyTokens[n * window + w] = inside ? token(c) : -1;
    }
  }
  const relative = sides.map((_, a) => {
    const table = new Int32Array(queries * window);
    for (let r = 0; r < queries; r++) {
      for (let w = 0; w < window; w++) {
        table[r * window + w] = coords(w, span)[a]! - coords(r, b)[a]! + b - 1;
      }
    }
    return table;
  });
  return { blocks, queries, window, queryTokens, keyTokens, relative };
}

/**
 * HaloNet blocked local self-attention (Vaswani et al. 2021, "Scaling Local Self-Attention for
 * Parameter Efficient Visual Backbones", sec. 2.2, fig. 2): the tokens are cut into
 * non-overlapping blocks of b (b×b on a grid); the queries of a block attend together to the
 * keys of the block grown by a halo of h on each side,
 *   o_i = softmax((q_i K[W(i)]ᵀ + q_i R[W(i) − i]ᵀ)/√d) V[W(i)],
 * with, as in Ramachandran et al. 2019 (eq. 3), learned relative embeddings by offset (on a
 * grid, a row and a column embedding, summed). Windows past the edge are zero-padded in the
 * paper; those padding keys are masked out here, so each query sees only real tokens. An
 * encoder: each block reads (b + 2h)^dims keys, whatever T.
 */
export class HaloAttention extends ProjectedAttention<HaloAttentionConfig> implements TokenMixer {
  /** Relative embeddings [2(b + h) − 1, headDim] per axis, or empty. */
  readonly relative: tf.Variable[];

  constructor(config: HaloAttentionConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('halo-attention', haloAttentionSchema, config);
    super(parsed, options);
    const { headDim: d } = headLayout(parsed);
    const size = 2 * (parsed.blockSize + parsed.halo) - 1;
    const names = parsed.grid ? ['relativeRows', 'relativeCols'] : ['relative'];
    this.relative =
      (parsed.relativePositions ?? true)
        ? names.map((name) =>
            this.addParameter(
              name,
              tf.randomNormal([size, d], 0, 1 / Math.sqrt(d), 'float32', this.rng.nextUint32()),
            ),
          )
        : [];
  }

  /** Encoder: never causal, no decoding, positions of its own (no rotate or bias), no masks. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'never',
      decoding: false,
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'none',
      keyValuePrefix: false,
    };
  }

  /** The sides of x's token layout, checked: [T] or the configured grid. */
  private sides(x: tf.Tensor3D): number[] {
    const { blockSize: b, grid } = this.config;
    const t = x.shape[1];
    if (grid && grid[0] * grid[1] !== t) {
      const want = `time = grid ${grid[0]}×${grid[1]} = ${grid[0] * grid[1]}`;
      throw new ShapeError('halo-attention', 'x', want, `shape ${formatShape(x.shape)}`);
    }
    if (!grid && t % b !== 0) {
      const want = `time a multiple of blockSize=${b}`;
      throw new ShapeError('halo-attention', 'x', want, `shape ${formatShape(x.shape)}`);
    }
    return grid ? [...grid] : [t];
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    checkMixerInput('halo-attention', x, this.config.dModel, context, KVCache, this.capabilities);
    const sides = this.sides(x);
    const layout = haloLayout(sides, this.config.blockSize, this.config.halo);
    return tf.tidy(() => {
      const q = this.projectQueries(x, [], undefined);
      const { keys, values } = this.projectKeysValues(x, [], undefined);
      const output =
        (this.config.form ?? 'gather') === 'gather'
          ? this.blocked(q, keys, values, layout)
          : this.dense(q, keys, values, sides);
      return this.mergeAndProject(output, context.heads);
    });
  }

  /** Σ over axes of the relative embeddings at `index` ([n] per axis): [n, headDim], or null. */
  private relativeSum(index: Int32Array[]): tf.Tensor2D | null {
    if (this.relative.length === 0) return null;
    const rows = this.relative.map((table, a) => gatherAxis(table, index[a]!, 0));
    return tf.addN(rows) as tf.Tensor2D;
  }

  /** Block by block: each block's queries against its (b + 2h)^dims window only. */
  private blocked(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, layout: HaloLayout): tf.Tensor4D {
    const [b, h, t, d] = q.shape;
    const dv = v.shape[3];
    const { blocks: n, queries: bq, window: w } = layout;
    const scale = 1 / Math.sqrt(d);
    const clamped = tf.tensor1d(
      layout.keyTokens.map((j) => Math.max(j, 0)),
      'int32',
    );
    const windowed = (x: tf.Tensor4D, width: number) =>
      tf.reshape(gatherAxis(x, clamped, 2), [b * h * n, w, width]);
    const queries = tf.reshape(gatherAxis(q, layout.queryTokens, 2), [b * h * n, bq, d]);
    let logits = tf.matMul(queries, windowed(k, d), false, true); // [b·h·n, bq, w]
    const rel = this.relativeSum(layout.relative);
    if (rel) {
      const table = tf.reshape(rel, [1, bq, w, d]);
      logits = tf.add(logits, tf.sum(tf.mul(tf.expandDims(queries, 2), table), -1));
    }
    const padding = tf.tensor3d(
      Float32Array.from(layout.keyTokens, (j) => (j < 0 ? MASK_NEGATIVE : 0)),
      [n, 1, w],
    );
    const masked = tf.add(tf.reshape(tf.mul(logits, scale), [b * h, n, bq, w]), padding);
    const p = tf.reshape(tf.softmax(masked), [b * h * n, bq, w]);
    const out = tf.reshape(tf.matMul(p, windowed(v, dv)), [b, h, n * bq, dv]);
    // Back from block order to token order.
    const inverse = new Int32Array(t);
    layout.queryTokens.forEach((token, slot) => (inverse[token] = slot));
    return gatherAxis(out, inverse, 2) as tf.Tensor4D;
  }

  /** The exact reference: full attention with the window as a mask, relative logits as a bias. */
  private dense(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, sides: number[]): tf.Tensor4D {
    const t = q.shape[2];
    const d = q.shape[3];
    const { blockSize: b, halo } = this.config;
    const coord = (i: number) =>
      sides.length === 1 ? [i] : [Math.floor(i / sides[1]!), i % sides[1]!];
    const allowed = new Uint8Array(t * t);
    const index = sides.map(() => new Int32Array(t * t));
    for (let i = 0; i < t; i++) {
      const ci = coord(i);
      for (let j = 0; j < t; j++) {
        const cj = coord(j);
        const inside = cj.every((c, a) => {
          const start = Math.floor(ci[a]! / b) * b - halo;
          return c >= start && c < start + b + 2 * halo;
        });
        allowed[i * t + j] = inside ? 1 : 0;
        // Offsets outside the window are masked; clip them into the table.
        cj.forEach((c, a) => {
          const at = c - ci[a]! + b - 1 + halo;
          index[a]![i * t + j] = Math.min(Math.max(at, 0), 2 * (b + halo) - 2);
        });
      }
    }
    const scale = 1 / Math.sqrt(d);
    const rel = this.relativeSum(index);
    const bias = rel
      ? tf.mul(tf.sum(tf.mul(tf.expandDims(q, 3), tf.reshape(rel, [1, 1, t, t, d])), -1), scale)
      : undefined;
    const mask = tf.tensor4d(allowed, [1, 1, t, t], 'bool');
    return scaledDotProductAttention(q, k, v, { mask, bias, scale }).output;
  }
}

register(
  'halo-attention',
  (c: HaloAttentionConfig, o: ModuleOptions) => new HaloAttention(c, o),
  haloAttentionSchema,
  {
    category: 'mixer',
    estimate: (c: HaloAttentionConfig) => {
      const tables = (c.relativePositions ?? true) ? (c.grid ? 2 : 1) : 0;
      const rows = 2 * (c.blockSize + c.halo) - 1;
      return estimateOf(projectedParameters(c) + tables * rows * headLayout(c).headDim);
    },
    info: {
      paper:
        'Vaswani et al. 2021, Scaling Local Self-Attention for Parameter Efficient Visual Backbones (HaloNet)',
      equation:
        'sec. 2.2: blocked local self-attention, each block of b attends to itself plus a halo of h, with relative logits',
      summary:
        'Encoder attention in non-overlapping blocks (1-D or b×b on a grid); each block attends to its keys grown by a halo of h on each side, with learned relative position logits.',
      example: { type: 'halo-attention', dModel: 8, numHeads: 2, blockSize: 2, halo: 1 },
    },
  },
);
