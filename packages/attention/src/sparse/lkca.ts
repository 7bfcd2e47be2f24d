import * as tf from '@tensorflow/tfjs-core';
import { depthwiseSame } from '../ops/depthwise-same';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  ShapeError,
  State,
  estimateOf,
  gatherRows,
  gelu,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { uniform } from '../recurrent/common';
import { checkMixerInput } from '../softmax/heads';

/*
 * Large Kernel Convolutional Attention (Li et al. 2024, "LKCA: Large Kernel Convolutional
 * Attention", sec. 3): attention replaced by a large-kernel depthwise convolution, which
 * is local attention with fixed weights shared across positions, A_ij = w_(j−i) for |j − i| ≤ r
 * (the paper's "attention view"). The large kernel K is decomposed as in VAN's large kernel
 * attention (Guo et al. 2022, "Visual Attention Network", eqs. 1-2), gating the input:
 *   u = GELU(x W_in),  a = PW(DW-D_⌈K/d⌉,d(DW_(2d−1)(u))),  y = (u ⊙ a) W_out;
 * dilation d = 1 is a single K-tap (K×K) depthwise kernel. `form: 'attention'` computes every
 * depthwise convolution as that banded attention matrix times u (O(T²), the equivalence check).
 */

const positive = z.number().int().positive();

export const lkcaSchema = z.strictObject({
  type: z.literal('lkca'),
  dModel: positive,
  /** K, the large kernel's span (odd); default 21 as VAN. */
  kernelSize: positive.optional(),
  /** d: DW conv of 2d − 1 taps, then DW-D conv of ⌈K/d⌉ taps (odd) at dilation d; 1 = one K-tap conv. Default 3. */
  dilation: positive.optional(),
  /** [height, width] of the tokens in raster order: 2-D kernels; else a sequence. */
  grid: z.tuple([positive, positive]).optional(),
  /** 'conv' (default): depthwise convolutions; 'attention': the same as banded fixed-weight attention. */
  form: z.enum(['conv', 'attention']).optional(),
});
export type LkcaConfig = z.infer<typeof lkcaSchema>;

/** Taps of the two depthwise kernels per axis: [local (0 = none), dilated]. */
function taps(c: LkcaConfig): [number, number] {
  const k = c.kernelSize ?? 21;
  const d = c.dilation ?? 3;
  if (k % 2 === 0) throw new ConfigError(c.type, '$.kernelSize', 'an odd size', String(k));
  const dilated = Math.ceil(k / d);
  if (dilated % 2 === 0) {
    throw new ConfigError(
      c.type,
      '$.dilation',
      `a dilation with ⌈kernelSize/dilation⌉ odd (a centred kernel; kernelSize ${k})`,
      `${d} (⌈${k}/${d}⌉ = ${dilated})`,
    );
  }
  return [d === 1 ? 0 : 2 * d - 1, dilated];
}

/** A depthwise filter [kh, kw, C] spread to dilation d with zeros between taps (differentiable). */
function dilate(w: tf.Tensor3D, d: number, grid: boolean): tf.Tensor3D {
  if (d === 1) return w;
  const spread = (x: tf.Tensor3D, axis: number): tf.Tensor3D => {
    const k = x.shape[axis];
    const moved = axis === 0 ? x : tf.transpose(x, [1, 0, 2]);
    const [, m, c] = moved.shape;
    const padded = tf.pad(tf.expandDims(moved, 1), [
      [0, 0],
      [0, d - 1],
      [0, 0],
      [0, 0],
    ]);
    const flat = tf.slice(tf.reshape(padded, [k * d, m, c]), [0, 0, 0], [d * (k - 1) + 1, -1, -1]);
    return (axis === 0 ? flat : tf.transpose(flat, [1, 0, 2])) as tf.Tensor3D;
  };
  const wide = spread(w, 1);
  return grid ? spread(wide, 0) : wide;
}

/** Depthwise 'same' convolution of u [b, h, w, C] with filter [kh, kw, C] (odd), as a conv. */
const depthwiseConv = depthwiseSame;

/**
 * The same convolution in the attention view: out_i = Σ_j A_ij u_j per channel, the banded
 * matrix A_ij = w_(j−i) gathered from the filter by relative offset (0 outside the kernel).
 */
function depthwiseAttention(u: tf.Tensor4D, w: tf.Tensor3D): tf.Tensor4D {
  const [b, gh, gw, c] = u.shape;
  const [kh, kw] = w.shape;
  const t = gh * gw;
  const zero = kh * kw; // an extra all-zero tap
  const index = new Int32Array(t * t).fill(zero);
  for (let i = 0; i < t; i++)
    for (let j = 0; j < t; j++) {
      const dy = Math.floor(j / gw) - Math.floor(i / gw) + (kh >> 1);
      const dx = (j % gw) - (i % gw) + (kw >> 1);
      if (dy >= 0 && dy < kh && dx >= 0 && dx < kw) index[i * t + j] = dy * kw + dx;
    }
  const table = tf.concat([tf.reshape(w, [kh * kw, c]), tf.zeros([1, c])]) as tf.Tensor2D;
  const a = tf.reshape(tf.transpose(gatherRows(table, tf.tensor1d(index, 'int32'))), [c, t, t]);
  const values = tf.transpose(tf.reshape(u, [b, t, c]), [2, 1, 0]); // [C, T, b]
  const out = tf.matMul(a, values); // [C, T, b]
  return tf.reshape(tf.transpose(out, [2, 1, 0]), [b, gh, gw, c]) as tf.Tensor4D;
}

export class Lkca extends Module<LkcaConfig> implements TokenMixer {
  readonly inProj: Linear;
  readonly outProj: Linear;
  readonly pointwise: Linear;
  /** The local depthwise kernel [kh, kw, C] and bias, or null when dilation is 1. */
  readonly localWeight: tf.Variable | null;
  readonly localBias: tf.Variable | null;
  /** The dilated depthwise kernel [kh, kw, C] (undilated taps) and bias. */
  readonly dilatedWeight: tf.Variable;
  readonly dilatedBias: tf.Variable;

  constructor(config: LkcaConfig, options: ModuleOptions = {}) {
    const c = parseConfig('lkca', lkcaSchema, config);
    const [local, dilated] = taps(c);
    super(c, options);
    const d = c.dModel;
    const sub = { rng: this.rng };
    this.inProj = this.addModule('inProj', new Linear({ inFeatures: d, outFeatures: d }, sub));
    const filter = (name: string, k: number) => {
      const shape = [c.grid ? k : 1, k, d];
      const bound = 1 / Math.sqrt(shape[0]! * k); // PyTorch's depthwise Conv default
      return [
        this.addParameter(`${name}Weight`, uniform(this.rng, shape, bound)),
        this.addParameter(`${name}Bias`, uniform(this.rng, [d], bound)),
      ] as const;
    };
    [this.localWeight, this.localBias] = local ? filter('local', local) : [null, null];
    [this.dilatedWeight, this.dilatedBias] = filter('dilated', dilated);
    this.pointwise = this.addModule(
      'pointwise',
      new Linear({ inFeatures: d, outFeatures: d }, sub),
    );
    this.outProj = this.addModule('outProj', new Linear({ inFeatures: d, outFeatures: d }, sub));
  }

  /** A bidirectional convolution over a sequence or grid: no state, masks, positions or heads. */
  get capabilities(): MixerCapabilities {
    return {
      decoding: false,
      causal: 'never',
      strictlyCausal: false,
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
    const [b, t, d] = x.shape;
    const grid = c.grid ?? [1, t];
    if (grid[0] * grid[1] !== t) {
      throw new ShapeError(
        c.type,
        'x',
        `${grid[0] * grid[1]} tokens (grid ${grid[0]}×${grid[1]})`,
        `${t} tokens`,
      );
    }
    const conv = c.form === 'attention' ? depthwiseAttention : depthwiseConv;
    return tf.tidy(() => {
      const u = gelu(this.inProj.forward(x)) as tf.Tensor3D;
      let a = tf.reshape(u, [b, grid[0], grid[1], d]) as tf.Tensor4D;
      if (this.localWeight) {
        a = tf.add(conv(a, this.localWeight as tf.Tensor3D), this.localBias!) as tf.Tensor4D;
      }
      const wide = dilate(this.dilatedWeight as tf.Tensor3D, c.dilation ?? 3, !!c.grid);
      a = tf.add(conv(a, wide), this.dilatedBias) as tf.Tensor4D;
      const gate = this.pointwise.forward(tf.reshape(a, [b, t, d]));
      return this.outProj.forward(tf.mul(u, gate)) as tf.Tensor3D;
    });
  }
}

/** Three d×d linears with biases plus the depthwise kernels and their biases. */
function estimateLkca(c: LkcaConfig): ReturnType<typeof estimateOf> {
  const [local, dilated] = taps(c);
  const d = c.dModel;
  const kernel = (k: number) => (k ? ((c.grid ? k : 1) * k + 1) * d : 0);
  return estimateOf(3 * (d * d + d) + kernel(local) + kernel(dilated));
}

register('lkca', (c: LkcaConfig, o: ModuleOptions) => new Lkca(c, o), lkcaSchema, {
  category: 'mixer',
  estimate: estimateLkca,
  info: {
    paper:
      'Li et al. 2024, LKCA: Large Kernel Convolutional Attention; decomposition: Guo et al. 2022, Visual Attention Network',
    equation: 'LKCA sec. 3 (conv = attention with shared weights); VAN eqs. 1-2',
    summary:
      'Large-kernel depthwise convolution as attention with fixed shared weights: DW conv, dilated DW conv and pointwise conv gate GELU(x W_in), over a sequence or grid.',
    example: { type: 'lkca', dModel: 8, kernelSize: 5, dilation: 2 },
  },
});
