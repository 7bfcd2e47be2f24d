import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  type Estimate,
  Linear,
  Module,
  RMSNorm,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { linearAttention } from '../ops/linear';
import { causalConv1d } from '../ops/short-conv';
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES, deltaBias, dtRange, silu, ssmFields, uniform } from './common';
import { RecurrentState } from './state';

/** 'mamba2': the SSD block (Dao & Gu 2024, sec. 7.1, Fig. 6). */
export const mamba2Schema = z
  .strictObject({
    type: z.literal('mamba2'),
    ...ssmFields,
    /** N, the state size shared by every head (default 64). */
    dState: z.number().int().positive().optional(),
    /** P, the width of a head (default 64); it divides expand·dModel. */
    headDim: z.number().int().positive().optional(),
    /** Training form of linearAttention: 'chunk' (default, 64 tokens a chunk) or 'parallel'. */
    form: z.enum(['chunk', 'parallel']).optional(),
  })
  .refine((c) => ((c.expand ?? 2) * c.dModel) % (c.headDim ?? 64) === 0, {
    path: ['headDim'],
    message: 'a divisor of expand·dModel (defaults expand 2, headDim 64)',
  })
  .refine(...dtRange);
export type Mamba2Config = z.input<typeof mamba2Schema>;

/** Inner width, state size N, heads H, head width P, conv kernel, from a config (defaults filled). */
export interface Mamba2Sizes {
  inner: number;
  state: number;
  heads: number;
  headDim: number;
  kernel: number;
}

export function mamba2Sizes(config: Mamba2Config): Mamba2Sizes {
  const { dModel, expand = 2, dState = 64, headDim = 64, dConv = 4 } = config;
  const inner = expand * dModel;
  return { inner, state: dState, heads: inner / headDim, headDim, kernel: dConv };
}

/** Mamba-2's decoding state: the convolution's last dConv-1 inputs and the SSM state [b, H, N, P]. */
export class Mamba2State extends RecurrentState {}

/**
 * Mamba-2 (Dao & Gu 2024, "Transformers are SSMs: Generalized Models and Efficient Algorithms
 * Through Structured State Space Duality"): the SSM with a scalar decay per head and step,
 * a_t = exp(Δ_t A_h), is causal linear attention with that decay (state space duality,
 * sec. 3-5; the chunked algorithm of sec. 6): S_t = a_t S_{t-1} + B_tᵀ (Δ_t x_t),
 * y_t = C_t S_t + D_h x_t, computed by `linearAttention` with gate = Δ_t A_h (log space),
 * k = B, q = C, v = Δ·x. The block (sec. 7.1): one input projection to [z, x, B, C, Δ], a
 * causal conv + SiLU over x, B, C, one B and C shared by every head (one group),
 * Δ = softplus(Δ + bias), the gated RMS norm norm(y ⊙ SiLU(z)), the output projection.
 */
export class Mamba2 extends Module<Mamba2Config> implements TokenMixer {
  readonly inProj: Linear;
  readonly convWeight: tf.Variable;
  readonly convBias: tf.Variable | null;
  readonly dtBias: tf.Variable;
  readonly aLog: tf.Variable;
  readonly d: tf.Variable;
  readonly norm: RMSNorm;
  readonly outProj: Linear;

  constructor(config: Mamba2Config, options: ModuleOptions = {}) {
    super(parseConfig('mamba2', mamba2Schema, config), options);
    const { dModel, bias = false, convBias = true, dtMin = 0.001, dtMax = 0.1 } = this.config;
    const { inner, state: n, heads, kernel } = this.sizes;
    const linear = (i: number, o: number) =>
      new Linear({ inFeatures: i, outFeatures: o, bias }, { rng: this.rng });
    const channels = inner + 2 * n;
    this.inProj = this.addModule('inProj', linear(dModel, inner + channels + heads));
    const bound = 1 / Math.sqrt(kernel); // PyTorch's Conv1d default (fan-in = kernel, depthwise)
    this.convWeight = this.addParameter('convWeight', uniform(this.rng, [channels, kernel], bound));
    this.convBias = convBias
      ? this.addParameter('convBias', uniform(this.rng, [channels], bound))
      : null;
    this.dtBias = this.addParameter('dtBias', deltaBias(heads, dtMin, dtMax, this.rng));
    // A_h uniform in [1, 16] (the reference code's A_init_range).
    const a = Float32Array.from({ length: heads }, () => Math.log(1 + 15 * this.rng.uniform()));
    this.aLog = this.addParameter('aLog', tf.tensor1d(a));
    this.d = this.addParameter('d', tf.ones([heads]));
    this.norm = this.addModule('norm', new RMSNorm({ dim: inner, eps: 1e-5 }, { rng: this.rng }));
    this.outProj = this.addModule('outProj', linear(inner, dModel));
  }

  /** Inner width, state size N, heads H, head width P, conv kernel. */
  get sizes(): Mamba2Sizes {
    return mamba2Sizes(this.config);
  }

  get capabilities(): MixerCapabilities {
    return RECURRENT_CAPABILITIES;
  }

  initState(_batch: number): Mamba2State {
    return new Mamba2State();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const state = checkMixerInput(
      'mamba2',
      x,
      this.config.dModel,
      context,
      Mamba2State,
      this.capabilities,
    );
    const { inner, state: n, heads: h, headDim: p } = this.sizes;
    const [b, t] = x.shape;
    const [output, conv, kv] = tf.tidy(() => {
      const [z, xbc, dtRaw] = tf.split(this.inProj.forward(x), [inner, inner + 2 * n, h], 2);
      const c = causalConv1d(xbc as tf.Tensor3D, this.convWeight as tf.Tensor2D, {
        bias: (this.convBias ?? undefined) as tf.Tensor1D | undefined,
        initialState: state?.read<tf.Tensor3D>('conv'),
        activation: 'silu',
      });
      const [xs, bMat, cMat] = tf.split(c.output, [inner, n, n], 2);
      const delta = tf.softplus(tf.add(dtRaw!, this.dtBias)); // [b, t, H]
      const gate = tf.transpose(tf.mul(delta, tf.neg(tf.exp(this.aLog))), [0, 2, 1]); // Δ·A
      const perHead = (m: tf.Tensor) => tf.tile(tf.expandDims(m, 1), [1, h, 1, 1]) as tf.Tensor4D;
      const xh = tf.reshape(xs!, [b, t, h, p]);
      const v = tf.transpose(tf.mul(xh, tf.expandDims(delta, 3)), [0, 2, 1, 3]) as tf.Tensor4D;
      const kvState = state?.read<tf.Tensor4D>('kv');
      const r = linearAttention(perHead(cMat!), perHead(bMat!), v, {
        gate,
        form: t === 1 && state ? 'recurrent' : (this.config.form ?? 'chunk'),
        chunkSize: this.config.chunkSize,
        initialState: kvState ? { kv: kvState } : undefined,
        checkValues: false, // Δ·A <= 0 by construction
      });
      const skip = tf.mul(xh, tf.reshape(this.d, [h, 1]));
      const y = tf.reshape(tf.add(tf.transpose(r.output, [0, 2, 1, 3]), skip), [b, t, inner]);
      const out = this.outProj.forward(this.norm.forward(tf.mul(y, silu(z!)))) as tf.Tensor3D;
      return [out, c.state, r.state.kv];
    });
    if (state) state.update({ conv, kv }, t);
    else tf.dispose([conv, kv]);
    return output;
  }
}

/** in (to z, x, B, C, Δ), conv over x, B, C (+ bias), Δ bias, A_log, D [H], the gated norm [E], out. */
function estimateMamba2(c: Mamba2Config): Estimate {
  const { inner: e, state: n, heads, kernel } = mamba2Sizes(c);
  const d = c.dModel;
  const bias = c.bias ?? false;
  const channels = e + 2 * n;
  const inProj = d * (e + channels + heads) + (bias ? e + channels + heads : 0);
  const conv = channels * kernel + ((c.convBias ?? true) ? channels : 0);
  return estimateOf(inProj + conv + 3 * heads + e + e * d + (bias ? d : 0));
}

register('mamba2', (c, o) => new Mamba2(c, o), mamba2Schema, {
  category: 'mixer',
  estimate: estimateMamba2,
  info: {
    paper:
      'Dao & Gu 2024, Transformers are SSMs: Generalized Models and Efficient Algorithms Through Structured State Space Duality',
    equation:
      'sec. 6 (SSD: scalar-decay SSM = masked linear attention, chunked), sec. 7.1 (the Mamba-2 block)',
    summary:
      'scalar decay exp(ΔA) per head and step on linearAttention; gated RMS norm; constant state',
    example: { type: 'mamba2', dModel: 8, dState: 4, headDim: 4, chunkSize: 4 },
  },
});
