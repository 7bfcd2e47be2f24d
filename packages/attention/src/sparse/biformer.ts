import * as tf from '@tensorflow/tfjs-core';
import { depthwiseSame } from '../ops/depthwise-same';
import { z } from 'zod';
import {
  ConfigError,
  SOFTMAX_CAPABILITIES,
  ShapeError,
  State,
  estimateOf,
  gatherRows,
  parseConfig,
  register,
  type Estimate,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { blockSparseAttention } from '../ops/block-sparse';
import { blockSparseMask } from '../ops/block-sparse-mask';
import { scaledDotProductAttention } from '../ops/sdpa';
import { uniform } from '../recurrent/common';
import { checkMixerInput, mergeHeads, splitHeads } from '../softmax/heads';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';

/*
 * BiFormer's bi-level routing attention (Zhu et al. 2023, "BiFormer: Vision Transformer with
 * Bi-Level Routing Attention", sec. 3.2, eqs. 2-5): split the tokens into S² regions (here also
 * S segments of a sequence); region affinity A^r = Q^r (K^r)ᵀ of the region-mean queries and keys;
 * I^r = topkIndex(A^r) routes each region to k regions; K^g, V^g gather their tokens; each token
 * attends within them, plus the local context enhancement LCE(V), a depthwise convolution:
 *   O = Attention(Q, K^g, V^g) + LCE(V).
 */

const positive = z.number().int().positive();

export const biformerSchema = z.strictObject({
  type: z.literal('biformer'),
  dModel: positive,
  numHeads: positive,
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** S: S contiguous segments of a sequence, or an S×S grid of regions over `grid`. */
  regions: positive,
  /** k: regions each region routes to (≤ the number of regions). */
  topk: positive,
  /** [height, width] of the tokens in raster order (a ViT's patches): 2-D regions. */
  grid: z.tuple([positive, positive]).optional(),
  /** LCE's depthwise kernel on V (odd; 0 = none); default 5, the paper's 5×5 (5 taps in 1-D). */
  lceKernel: z.number().int().min(0).optional(),
  /** 'gather' (default): only the routed regions; 'dense': the same routing as a mask on full attention (the reference). */
  form: z.enum(['gather', 'dense']).optional(),
});
export type BiFormerConfig = z.infer<typeof biformerSchema>;

const DEFAULT_LCE = 5;

/** The depthwise filter's taps: k×k over a grid, k along a sequence. */
function lceTaps(c: BiFormerConfig): [number, number] {
  const k = c.lceKernel ?? DEFAULT_LCE;
  return [c.grid ? k : 1, k];
}

/** Regions of a `time`-token input: its grid, the regions per side, and tokens per region. */
interface Regions {
  grid: [number, number];
  perSide: [number, number];
  count: number;
  size: number;
  /** [T]: the token at each place of the region-major order, and its inverse. */
  order: Int32Array;
  inverse: Int32Array;
}

function regionsOf(c: BiFormerConfig, time: number): Regions {
  const grid = c.grid ?? [1, time];
  if (grid[0] * grid[1] !== time) {
    throw new ShapeError(
      c.type,
      'x',
      `${grid[0] * grid[1]} tokens (grid ${grid[0]}×${grid[1]})`,
      `${time} tokens`,
    );
  }
  const perSide: [number, number] = [c.grid ? c.regions : 1, c.regions];
  for (const a of [0, 1]) {
    if (grid[a]! % perSide[a]! !== 0) {
      const side = c.grid ? `grid ${a ? 'width' : 'height'} ${grid[a]}` : `${time} tokens`;
      throw new ShapeError(c.type, 'x', `${side} divisible by regions=${c.regions}`, `${grid[a]}`);
    }
  }
  const [bh, bw] = [grid[0] / perSide[0], grid[1] / perSide[1]];
  const order = new Int32Array(time);
  const inverse = new Int32Array(time);
  let n = 0;
  for (let rh = 0; rh < perSide[0]; rh++)
    for (let rw = 0; rw < perSide[1]; rw++)
      for (let i = 0; i < bh; i++)
        for (let j = 0; j < bw; j++) {
          const token = (rh * bh + i) * grid[1] + rw * bw + j;
          order[n] = token;
          inverse[token] = n++;
        }
  return { grid, perSide, count: perSide[0] * perSide[1], size: bh * bw, order, inverse };
}

/** x [b, T, d] with its tokens reordered: out[:, n] = x[:, order[n]] (one gatherRows). */
function reorder(x: tf.Tensor3D, order: Int32Array): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const rows = tf.reshape(tf.transpose(x, [1, 0, 2]), [t, b * d]) as tf.Tensor2D;
  const picked = gatherRows(rows, tf.tensor1d(order, 'int32'));
  return tf.transpose(tf.reshape(picked, [t, b, d]), [1, 0, 2]) as tf.Tensor3D;
}

export class BiFormer extends ProjectedAttention<BiFormerConfig> implements TokenMixer {
  /** LCE's depthwise filter [kh, kw, V's width] and bias, or null with lceKernel 0. */
  readonly lceWeight: tf.Variable | null;
  readonly lceBias: tf.Variable | null;

  constructor(config: BiFormerConfig, options: ModuleOptions = {}) {
    const c = parseConfig('biformer', biformerSchema, config);
    const taps = c.lceKernel ?? DEFAULT_LCE;
    if (taps > 0 && taps % 2 === 0) {
      throw new ConfigError(c.type, '$.lceKernel', 'an odd kernel size or 0', String(taps));
    }
    const count = c.grid ? c.regions * c.regions : c.regions;
    if (c.topk > count) {
      throw new ConfigError(c.type, '$.topk', `at most the ${count} regions`, String(c.topk));
    }
    if (c.grid) regionsOf(c, c.grid[0] * c.grid[1]);
    super(c, options);
    const d = this.layout.valueHeads * this.layout.valueDim; // V's width
    const [kh, kw] = lceTaps(this.config);
    const bound = 1 / Math.sqrt(kh * kw); // PyTorch's depthwise Conv default (fan-in = taps)
    const lce = taps > 0;
    this.lceWeight = lce
      ? this.addParameter('lceWeight', uniform(this.rng, [kh, kw, d], bound))
      : null;
    this.lceBias = lce ? this.addParameter('lceBias', uniform(this.rng, [d], bound)) : null;
  }

  /** An encoder mixer: bidirectional, no decoding state, masks, positions or head control. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      decoding: false,
      causal: 'never',
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const c = this.config;
    checkMixerInput(c.type, x, c.dModel, context, State, this.capabilities);
    const r = regionsOf(c, x.shape[1]);
    const [b, t] = x.shape;
    return tf.tidy(() => {
      const { queryHeads: h, valueDim } = this.layout;
      const xr = reorder(x, r.order); // region-major: region n holds tokens [n·size, (n+1)·size)
      const [q, k, v] = [this.q, this.k, this.v].map((p) => p.forward(xr) as tf.Tensor3D);
      // Eqs. 2-3: region-level affinity of the mean queries and keys, top-k regions per region.
      const mean = (y: tf.Tensor3D) => tf.mean(tf.reshape(y, [b, r.count, r.size, -1]), 2);
      const affinity = tf.matMul(mean(q!), mean(k!), false, true); // [b, S², S²]
      const routed = tf.topk(affinity, c.topk).indices; // [b, S², k]
      // Rebuilt from its values: the routing is data, off the tape (topk is not differentiated).
      const route = routed.dataSync();
      // The probe gets the routing: [batch, regions, topk] region indices, flat.
      context.probe?.({
        block: c.type,
        path: context.path ?? '',
        name: 'routedRegions',
        value: Array.from(route),
      });
      const selected = tf.tile(tf.tensor4d(route, [b, 1, r.count, c.topk], 'int32'), [
        1,
        h,
        1,
        1,
      ]) as tf.Tensor4D;
      // Eq. 4-5: token attention within the routed regions.
      const qh = splitHeads(q!, h, this.headDim);
      const kh = splitHeads(k!, h, this.headDim);
      const vh = splitHeads(v!, h, valueDim);
      const blocks = { blockSize: r.size, selected, queryOffset: 0 };
      const heads =
        c.form === 'dense'
          ? scaledDotProductAttention(qh, kh, vh, {
              mask: blockSparseMask(blocks.selected, { blockSize: r.size, tq: t, tk: t }),
            }).output
          : blockSparseAttention(qh, kh, vh, blocks).output;
      let out = reorder(mergeHeads(heads), r.inverse);
      if (this.lceWeight)
        out = tf.add(out, this.lce(reorder(v!, r.inverse), r.grid)) as tf.Tensor3D;
      return this.o.forward(out) as tf.Tensor3D;
    });
  }

  /** LCE(V): a depthwise convolution of V over the grid (same padding), plus its bias. */
  private lce(v: tf.Tensor3D, grid: [number, number]): tf.Tensor3D {
    const [b, t, d] = v.shape;
    const [kh, kw] = lceTaps(this.config);
    const image = tf.reshape(v, [b, grid[0], grid[1], d]) as tf.Tensor4D;
    const conv = depthwiseSame(image, tf.reshape(this.lceWeight!, [kh, kw, d]) as tf.Tensor3D);
    return tf.reshape(tf.add(conv, this.lceBias!), [b, t, d]) as tf.Tensor3D;
  }
}

/** Projections plus LCE's filter and bias, before building. */
function estimateBiFormer(c: BiFormerConfig): Estimate {
  const [kh, kw] = lceTaps(c);
  const width = c.headDim === undefined ? c.dModel : c.numHeads * c.headDim; // V's width
  const lce = (c.lceKernel ?? DEFAULT_LCE) > 0 ? (kh * kw + 1) * width : 0;
  return estimateOf(projectedParameters(c) + lce);
}

register('biformer', (c: BiFormerConfig, o: ModuleOptions) => new BiFormer(c, o), biformerSchema, {
  category: 'mixer',
  estimate: estimateBiFormer,
  info: {
    paper: 'Zhu et al. 2023, BiFormer: Vision Transformer with Bi-Level Routing Attention',
    equation: 'sec. 3.2, eqs. 2-5',
    summary:
      'Bi-level routing: region-mean affinity picks top-k regions per region, token attention within them, plus a depthwise conv on V.',
    example: { type: 'biformer', dModel: 8, numHeads: 2, regions: 3, topk: 2, lceKernel: 3 },
  },
});
