import * as tf from '@tensorflow/tfjs-core';
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
import { scaledDotProductAttention } from '../ops/sdpa';
import { checkMixerInput, mergeHeads, splitHeads } from '../softmax/heads';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';

/*
 * W.A.L.T window attention (Gupta et al. 2023, "Photorealistic Video Generation with Diffusion
 * Models", sec. 3, window attention): the latent video [frames, h, w] is cut into
 * non-overlapping windows and self-attention runs inside each,
 *   Attn(X_w) = softmax(Q_w K_wᵀ / √d) V_w  for every window w,
 * spatial windows 1×p_h×p_w (within a frame) or spatiotemporal windows t×p_h×p_w (across
 * frames). A model alternates them by layer overrides of `mode`. No positional bias here: the
 * model adds its positions, as W.A.L.T does.
 */

const positive = z.number().int().positive();

export const waltAttentionSchema = z.strictObject({
  type: z.literal('walt-attention'),
  dModel: positive,
  numHeads: positive,
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** [frames, height, width] of the tokens in raster order (frame-major). */
  grid: z.tuple([positive, positive, positive]),
  /** Spatial window p (p×p) or [p_h, p_w]; must divide the grid's height and width. */
  windowSize: z.union([positive, z.tuple([positive, positive])]),
  /** 'spatial' (default): windows 1×p_h×p_w; 'spatiotemporal': t×p_h×p_w. */
  mode: z.enum(['spatial', 'spatiotemporal']).optional(),
  /** t, frames per spatiotemporal window (divides frames); default all frames; unused when spatial. */
  temporalWindow: positive.optional(),
  /** 'blocked' (default): attention inside each window only; 'dense': the same windows as a mask on full attention (the reference). */
  form: z.enum(['blocked', 'dense']).optional(),
});
export type WaltAttentionConfig = z.infer<typeof waltAttentionSchema>;

/** Windows of the grid: tokens per window, how many, and the window-major token order. */
export interface WaltWindows {
  size: number;
  count: number;
  /** `[T]`: the token at each place of the window-major order, and its inverse. */
  order: Int32Array;
  inverse: Int32Array;
  /** `[T]`: each token's window. */
  window: Int32Array;
}

/** The [t, p_h, p_w] window of a config, checked against its grid. */
function windowShape(c: WaltWindowsConfig): [number, number, number] {
  const [f, h, w] = c.grid;
  const [ph, pw] = typeof c.windowSize === 'number' ? [c.windowSize, c.windowSize] : c.windowSize;
  const t = c.mode === 'spatiotemporal' ? (c.temporalWindow ?? f) : 1;
  const sides: [string, number, number][] = [
    ['temporalWindow', t, f],
    ['windowSize', ph, h],
    ['windowSize', pw, w],
  ];
  const names = ['frames', 'height', 'width'];
  sides.forEach(([arg, size, side], a) => {
    if (side % size !== 0) {
      throw new ConfigError(
        c.type,
        `$.${arg}`,
        `a divisor of the grid's ${names[a]} ${side}`,
        String(size),
      );
    }
  });
  return [t, ph, pw];
}

/** What the windows read; `type` names the block in errors. */
type WaltWindowsConfig = Pick<
  WaltAttentionConfig,
  'grid' | 'windowSize' | 'mode' | 'temporalWindow'
> & {
  type: string;
};

/** The windows of a config's grid (throws a typed error when a window does not tile it). */
export function waltWindows(c: WaltWindowsConfig): WaltWindows {
  const [f, h, w] = c.grid;
  const [t, ph, pw] = windowShape(c);
  const per = [f / t, h / ph, w / pw];
  const size = t * ph * pw;
  const total = f * h * w;
  const order = new Int32Array(total);
  const inverse = new Int32Array(total);
  const window = new Int32Array(total);
  let n = 0;
  for (let a = 0; a < per[0]!; a++)
    for (let b = 0; b < per[1]!; b++)
      for (let d = 0; d < per[2]!; d++)
        for (let i = 0; i < t; i++)
          for (let j = 0; j < ph; j++)
            for (let k = 0; k < pw; k++) {
              const token = ((a * t + i) * h + b * ph + j) * w + d * pw + k;
              order[n] = token;
              inverse[token] = n;
              window[token] = Math.floor(n++ / size);
            }
  return { size, count: total / size, order, inverse, window };
}

/** x [b, T, d] with its tokens reordered: out[:, n] = x[:, order[n]] (one gatherRows). */
export function reorderTokens(x: tf.Tensor3D, order: Int32Array): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const rows = tf.reshape(tf.transpose(x, [1, 0, 2]), [t, b * d]) as tf.Tensor2D;
  const picked = gatherRows(rows, tf.tensor1d(order, 'int32'));
  return tf.transpose(tf.reshape(picked, [t, b, d]), [1, 0, 2]) as tf.Tensor3D;
}

/** Boolean [1, 1, T, T]: key j visible to query i when both lie in one window (the reference). */
export function waltWindowMask(windows: WaltWindows): tf.Tensor4D {
  const t = windows.window.length;
  const mask = new Uint8Array(t * t);
  for (let i = 0; i < t; i++)
    for (let j = 0; j < t; j++) mask[i * t + j] = windows.window[i] === windows.window[j] ? 1 : 0;
  return tf.tidy(() => tf.cast(tf.tensor4d(mask, [1, 1, t, t], 'int32'), 'bool')) as tf.Tensor4D;
}

export class WaltAttention extends ProjectedAttention<WaltAttentionConfig> implements TokenMixer {
  private readonly windows: WaltWindows;

  constructor(config: WaltAttentionConfig, options: ModuleOptions = {}) {
    const c = parseConfig('walt-attention', waltAttentionSchema, config);
    const windows = waltWindows(c); // the geometry is checked before any weight
    super(c, options);
    this.windows = windows;
  }

  /** An encoder (diffusion backbone) mixer: bidirectional, no decoding, masks or positions. */
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
    const [f, gh, gw] = c.grid;
    if (x.shape[1] !== f * gh * gw) {
      throw new ShapeError(
        c.type,
        'x',
        `${f * gh * gw} tokens (grid ${f}×${gh}×${gw})`,
        `${x.shape[1]} tokens`,
      );
    }
    const w = this.windows;
    const { queryHeads, keyHeads, valueHeads, valueDim } = this.layout;
    return tf.tidy(() => {
      const dense = c.form === 'dense';
      // Blocked: window-major order, so window n is key block n and attends to itself only.
      const xs = dense ? x : reorderTokens(x, w.order);
      const q = splitHeads(this.q.forward(xs), queryHeads, this.headDim);
      const k = splitHeads(this.k.forward(xs), keyHeads, this.headDim);
      const v = splitHeads(this.v.forward(xs), valueHeads, valueDim);
      if (dense) {
        const heads = scaledDotProductAttention(q, k, v, { mask: waltWindowMask(w) }).output;
        return this.o.forward(mergeHeads(heads)) as tf.Tensor3D;
      }
      const own = Int32Array.from({ length: w.count }, (_, n) => n);
      const selected = tf.tile(tf.tensor4d(own, [1, 1, w.count, 1], 'int32'), [
        x.shape[0],
        queryHeads,
        1,
        1,
      ]) as tf.Tensor4D;
      const heads = blockSparseAttention(q, k, v, {
        blockSize: w.size,
        selected,
        queryOffset: 0,
      }).output;
      return this.o.forward(reorderTokens(mergeHeads(heads), w.inverse)) as tf.Tensor3D;
    });
  }
}

/** The q/k/v/o projections only: windows add no parameters. */
function estimateWalt(c: WaltAttentionConfig): Estimate {
  return estimateOf(projectedParameters(c));
}

register(
  'walt-attention',
  (c: WaltAttentionConfig, o: ModuleOptions) => new WaltAttention(c, o),
  waltAttentionSchema,
  {
    category: 'mixer',
    estimate: estimateWalt,
    info: {
      paper: 'Gupta et al. 2023, Photorealistic Video Generation with Diffusion Models (W.A.L.T)',
      equation: 'sec. 3, window attention: softmax(Q_w K_wᵀ/√d) V_w per window w',
      summary:
        'Self-attention inside non-overlapping windows of a [frames, h, w] grid: spatial 1×p×p or spatiotemporal t×p×p, alternated by layer.',
      example: {
        type: 'walt-attention',
        dModel: 8,
        numHeads: 2,
        grid: [3, 1, 2],
        windowSize: 1,
        mode: 'spatiotemporal',
      },
    },
  },
);
