import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  Module,
  RMSNorm,
  estimateOf,
  type Estimate,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { deltaRule } from '../ops/delta';
import { causalConv1d } from '../ops/short-conv';
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES, silu, uniform } from '../recurrent/common';
import { RecurrentState } from '../recurrent/state';

/** Fields DeltaNet and Gated DeltaNet share (flash-linear-attention's layer arguments). */
export const deltaFields = {
  dModel: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  /** dk, the width of a query/key head (default dModel / numHeads). */
  headDim: z.number().int().positive().optional(),
  /** dv, the width of a value head (default: headDim for deltanet, 2·headDim for gated-deltanet). */
  valueDim: z.number().int().positive().optional(),
  /** Kernel of the short causal convolution on q, k, v (default 4). */
  dConv: z.number().int().positive().optional(),
  /** A bias on that convolution (default false). */
  convBias: z.boolean().optional(),
  /** ε of the output RMS norm (default 1e-5). */
  normEps: z.number().positive().optional(),
  /** The output gate y = Norm(o) ⊙ SiLU(x W_g) (default: false for deltanet, true for gated). */
  outputGate: z.boolean().optional(),
  /** Training form of deltaRule: 'chunk' (default) or 'recurrent'. */
  form: z.enum(['chunk', 'recurrent']).optional(),
  /** Tokens per chunk of the chunk form (default 64). */
  chunkSize: z.number().int().positive().optional(),
};

/** Refines a schema with deltaFields: headDim may be left out only when numHeads divides dModel. */
export const headDimRule: [
  (c: { dModel: number; numHeads: number; headDim?: number }) => boolean,
  { path: string[]; message: string },
] = [
  (c) => c.headDim !== undefined || c.dModel % c.numHeads === 0,
  { path: ['numHeads'], message: 'a divisor of dModel (or set headDim)' },
];

export const deltaConfigSchema = z.object({ ...deltaFields });

/** A delta-rule mixer's config: the shared fields and its type. */
export type DeltaConfig = { type: string } & z.input<typeof deltaConfigSchema>;

/** What the layer of a delta-rule mixer looks like, from its (parsed) config. */
export interface DeltaSizes {
  heads: number;
  keyDim: number;
  valueDim: number;
  kernel: number;
  outputGate: boolean;
  /** True for Gated DeltaNet: the forget gate's a projection, A_log and Δ's bias. */
  gated: boolean;
}

export function deltaSizes(c: DeltaConfig, gated: boolean): DeltaSizes {
  const keyDim = c.headDim ?? c.dModel / c.numHeads;
  return {
    heads: c.numHeads,
    keyDim,
    valueDim: c.valueDim ?? (gated ? 2 * keyDim : keyDim),
    kernel: c.dConv ?? 4,
    outputGate: c.outputGate ?? gated,
    gated,
  };
}

/** Parameters the layer allocates (the registry's estimate), without allocating. */
export function estimateDelta(c: DeltaConfig, gated: boolean): Estimate {
  const { heads: h, keyDim: dk, valueDim: dv, kernel, outputGate } = deltaSizes(c, gated);
  const d = c.dModel;
  const channels = h * (2 * dk + dv);
  const projections = d * (2 * h * dk + h * dv + h) + h * dv * d + (outputGate ? d * h * dv : 0);
  const conv = channels * kernel + (c.convBias ? channels : 0);
  const gate = gated ? d * h + 2 * h : 0;
  return estimateOf(projections + conv + dv + gate);
}

/** x / √(Σ x² + 1e-6) on the last axis (flash-linear-attention's in-kernel L2 norm). */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-6))));
}

/**
 * The layer both delta-rule mixers share (Yang et al. 2024, its DeltaNet Transformer layer; flash-linear-attention's
 * DeltaNet / GatedDeltaNet layers): q, k, v = SiLU(ShortConv(x W_q | x W_k | x W_v)), q and k
 * L2-normalised per head, β = σ(x W_β), the delta rule (`deltaRule`, scale 1/√dk), a per-head
 * RMS norm of o (one gain of width dv), optionally times SiLU(x W_g), and W_o. A subclass gives
 * the forget gate (none for DeltaNet). Causal only; decoding carries the convolution's last
 * dConv-1 inputs and S [b, h, dk, dv]: constant size.
 */
export abstract class DeltaMixer<C extends DeltaConfig> extends Module<C> implements TokenMixer {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  /** W_β: one writing strength per head and token. */
  readonly b: Linear;
  readonly convWeight: tf.Variable;
  readonly convBias: tf.Variable | null;
  readonly norm: RMSNorm;
  readonly g: Linear | null;
  readonly o: Linear;
  protected abstract readonly stateKind: new () => RecurrentState;

  protected constructor(
    config: C,
    options: ModuleOptions,
    private readonly gated: boolean,
  ) {
    super(config, options);
    const { dModel: d, convBias = false, normEps = 1e-5 } = this.config;
    const { heads: h, keyDim: dk, valueDim: dv, kernel, outputGate } = deltaSizes(config, gated);
    const linear = (i: number, o: number) =>
      new Linear({ inFeatures: i, outFeatures: o, bias: false }, { rng: this.rng });
    this.q = this.addModule('q', linear(d, h * dk));
    this.k = this.addModule('k', linear(d, h * dk));
    this.v = this.addModule('v', linear(d, h * dv));
    this.b = this.addModule('b', linear(d, h));
    const channels = h * (2 * dk + dv);
    const bound = 1 / Math.sqrt(kernel); // PyTorch's depthwise Conv1d default
    this.convWeight = this.addParameter('convWeight', uniform(this.rng, [channels, kernel], bound));
    this.convBias = convBias
      ? this.addParameter('convBias', uniform(this.rng, [channels], bound))
      : null;
    this.norm = this.addModule('norm', new RMSNorm({ dim: dv, eps: normEps }, { rng: this.rng }));
    this.g = outputGate ? this.addModule('g', linear(d, h * dv)) : null;
    this.o = this.addModule('o', linear(h * dv, d));
  }

  get sizes(): DeltaSizes {
    return deltaSizes(this.config, this.gated);
  }

  /** The log forget gate log α [b, h, t] (<= 0), or undefined for α = 1. */
  protected abstract forgetGate(x: tf.Tensor3D): tf.Tensor3D | undefined;

  get capabilities(): MixerCapabilities {
    return RECURRENT_CAPABILITIES;
  }

  initState(_batch: number): RecurrentState {
    return new this.stateKind();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const state = checkMixerInput(
      block,
      x,
      this.config.dModel,
      context,
      this.stateKind,
      this.capabilities,
    );
    const { heads: h, keyDim: dk, valueDim: dv } = this.sizes;
    const [b, t] = x.shape;
    const [output, conv, kv] = tf.tidy(() => {
      const projected = tf.concat([this.q.forward(x), this.k.forward(x), this.v.forward(x)], 2);
      const c = causalConv1d(projected as tf.Tensor3D, this.convWeight as tf.Tensor2D, {
        bias: (this.convBias ?? undefined) as tf.Tensor1D | undefined,
        initialState: state?.read<tf.Tensor3D>('conv'),
        activation: 'silu',
      });
      const [qs, ks, vs] = tf.split(c.output, [h * dk, h * dk, h * dv], 2);
      const heads = (y: tf.Tensor, w: number) =>
        tf.transpose(tf.reshape(y, [b, t, h, w]), [0, 2, 1, 3]) as tf.Tensor4D;
      const q = l2Normalize(heads(qs!, dk)) as tf.Tensor4D;
      const k = l2Normalize(heads(ks!, dk)) as tf.Tensor4D;
      const beta = tf.transpose(tf.sigmoid(this.b.forward(x)), [0, 2, 1]) as tf.Tensor3D;
      const r = deltaRule(q, k, heads(vs!, dv), beta, {
        gate: this.forgetGate(x),
        form: state && t === 1 ? 'recurrent' : (this.config.form ?? 'chunk'),
        chunkSize: this.config.chunkSize,
        initialState: state?.read<tf.Tensor4D>('kv'),
        checkValues: false, // the gate is -exp(·)·softplus(·) <= 0 by construction
      });
      let y = this.norm.forward(tf.transpose(r.output, [0, 2, 1, 3])); // [b, t, h, dv]
      if (this.g) y = tf.mul(y, silu(tf.reshape(this.g.forward(x), [b, t, h, dv])));
      const out = this.o.forward(tf.reshape(y, [b, t, h * dv])) as tf.Tensor3D;
      return [out, c.state, r.state];
    });
    if (state) state.update({ conv, kv }, t);
    else tf.dispose([conv, kv]);
    return output;
  }
}
