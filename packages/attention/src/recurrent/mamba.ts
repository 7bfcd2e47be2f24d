import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  type Estimate,
  Linear,
  Module,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { linearRecurrence } from '../ops/scan';
import { causalConv1d } from '../ops/short-conv';
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES, deltaBias, dtRange, silu, ssmFields, uniform } from './common';
import { RecurrentState } from './state';

/** 'mamba': the selective SSM block (Gu & Dao 2023, Alg. 2 and sec. 3.4 / Fig. 3). */
export const mambaSchema = z
  .strictObject({
    type: z.literal('mamba'),
    ...ssmFields,
    /** N, the state size per channel (default 16). */
    dState: z.number().int().positive().optional(),
    /** Rank of Δ's projection (default ceil(dModel / 16)). */
    dtRank: z.number().int().positive().optional(),
    /** Training form of the scan: 'chunk' (default, 16 steps a chunk) or 'sequential'. */
    form: z.enum(['chunk', 'sequential']).optional(),
  })
  .refine(...dtRange);
export type MambaConfig = z.input<typeof mambaSchema>;

/** Inner width E·d, state size N, conv kernel, Δ's rank, from a config (defaults filled). */
export interface MambaSizes {
  inner: number;
  state: number;
  kernel: number;
  rank: number;
}

export function mambaSizes(config: MambaConfig): MambaSizes {
  const { dModel, expand = 2, dState = 16, dConv = 4, dtRank } = config;
  return {
    inner: expand * dModel,
    state: dState,
    kernel: dConv,
    rank: dtRank ?? Math.ceil(dModel / 16),
  };
}

/** Mamba's decoding state: the convolution's last dConv-1 inputs and the SSM state h [b, E·d, N]. */
export class MambaState extends RecurrentState {}

/**
 * Mamba, selective state spaces (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with
 * Selective State Spaces"), as a token mixer. Sec. 3.4's block: [x, z] = in(u); x = SiLU(conv(x));
 * Alg. 2 on x: Δ = softplus(W_Δ(W_r x) + b_Δ), B = W_B x, C = W_C x, A = -exp(A_log) (S4D-real,
 * A_n = n + 1), zero-order hold Ā = exp(ΔA) and B̄x ≈ ΔBx (as the reference code), the
 * selective scan h_t = Ā_t ⊙ h_{t-1} + B̄_t x_t (linearRecurrence), y = C h + D x; out(y ⊙ SiLU(z)).
 * Trains with the chunked scan; decodes in O(1) per token with the conv tail and h.
 */
export class Mamba extends Module<MambaConfig> implements TokenMixer {
  readonly inProj: Linear;
  readonly convWeight: tf.Variable;
  readonly convBias: tf.Variable | null;
  readonly xProj: Linear;
  readonly dtProj: Linear;
  readonly aLog: tf.Variable;
  readonly d: tf.Variable;
  readonly outProj: Linear;

  constructor(config: MambaConfig, options: ModuleOptions = {}) {
    super(parseConfig('mamba', mambaSchema, config), options);
    const { dModel, bias = false, convBias = true } = this.config;
    const { inner, state: n, kernel, rank } = this.sizes;
    const linear = (i: number, o: number, b: boolean, init?: object) =>
      new Linear({ inFeatures: i, outFeatures: o, bias: b, ...init }, { rng: this.rng });
    this.inProj = this.addModule('inProj', linear(dModel, 2 * inner, bias));
    const bound = 1 / Math.sqrt(kernel); // PyTorch's Conv1d default (fan-in = kernel, depthwise)
    this.convWeight = this.addParameter('convWeight', uniform(this.rng, [inner, kernel], bound));
    this.convBias = convBias
      ? this.addParameter('convBias', uniform(this.rng, [inner], bound))
      : null;
    this.xProj = this.addModule('xProj', linear(inner, rank + 2 * n, false));
    const dtStd = 1 / Math.sqrt(rank);
    const dtInit = { init: { name: 'uniform', min: -dtStd, max: dtStd } };
    this.dtProj = this.addModule('dtProj', linear(rank, inner, true, dtInit));
    const { dtMin = 0.001, dtMax = 0.1 } = this.config;
    const b = deltaBias(inner, dtMin, dtMax, this.rng);
    this.dtProj.bias!.assign(b);
    b.dispose();
    // S4D-real: A_n = -(n + 1) for every channel.
    const aInit = tf.tidy(() =>
      tf.log(tf.tile(tf.reshape(tf.range(1, n + 1, 1, 'float32'), [1, n]), [inner, 1])),
    );
    this.aLog = this.addParameter('aLog', aInit);
    this.d = this.addParameter('d', tf.ones([inner]));
    this.outProj = this.addModule('outProj', linear(inner, dModel, bias));
  }

  /** Inner width E·d, state size N, conv kernel, Δ's rank. */
  get sizes(): MambaSizes {
    return mambaSizes(this.config);
  }

  get capabilities(): MixerCapabilities {
    return RECURRENT_CAPABILITIES;
  }

  initState(_batch: number): MambaState {
    return new MambaState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const state = checkMixerInput(
      'mamba',
      x,
      this.config.dModel,
      context,
      MambaState,
      this.capabilities,
    );
    const { state: n, rank } = this.sizes;
    const t = x.shape[1];
    const [output, conv, ssm] = tf.tidy(() => {
      const [xIn, z] = tf.split(this.inProj.forward(x), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
      const c = causalConv1d(xIn, this.convWeight as tf.Tensor2D, {
        bias: (this.convBias ?? undefined) as tf.Tensor1D | undefined,
        initialState: state?.read<tf.Tensor3D>('conv'),
        activation: 'silu',
      });
      const u = c.output;
      const [low, bMat, cMat] = tf.split(this.xProj.forward(u), [rank, n, n], 2);
      const delta = tf.softplus(this.dtProj.forward(low!)); // [b, t, E]
      const a = tf.neg(tf.exp(this.aLog)); // [E, N]
      const dt = tf.expandDims(delta, 3); // [b, t, E, 1]
      const decay = tf.exp(tf.mul(dt, a)); // Ā [b, t, E, N]
      const drive = tf.mul(tf.mul(dt, tf.expandDims(bMat!, 2)), tf.expandDims(u, 3)); // ΔBx
      const scan = linearRecurrence(decay, drive, {
        form: t === 1 || this.config.form === 'sequential' ? 'sequential' : 'chunk',
        chunkSize: this.config.chunkSize ?? 16,
        initialState: state?.read('ssm'),
      });
      const y = tf.add(tf.sum(tf.mul(scan.output, tf.expandDims(cMat!, 2)), 3), tf.mul(u, this.d));
      const out = this.outProj.forward(tf.mul(y, silu(z))) as tf.Tensor3D;
      return [out, c.state, scan.state];
    });
    if (state) state.update({ conv, ssm }, t);
    else tf.dispose([conv, ssm]);
    return output;
  }
}

/** in, conv (+ bias), x (to Δ's rank, B, C), Δ (+ bias), A_log [E, N], D [E], out. */
function estimateMamba(c: MambaConfig): Estimate {
  const { inner: e, state: n, kernel, rank } = mambaSizes(c);
  const d = c.dModel;
  const bias = c.bias ?? false;
  const projections = d * 2 * e + (bias ? 2 * e : 0) + e * d + (bias ? d : 0);
  const conv = e * kernel + ((c.convBias ?? true) ? e : 0);
  const ssm = e * (rank + 2 * n) + rank * e + e + e * n + e;
  return estimateOf(projections + conv + ssm);
}

register('mamba', (c, o) => new Mamba(c, o), mambaSchema, {
  category: 'mixer',
  estimate: estimateMamba,
  info: {
    paper: 'Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces',
    equation:
      'Alg. 2 (selective scan, S6), eq. 4 (ZOH: Ā = exp(ΔA), B̄ ≈ ΔB), sec. 3.4 block (conv, SiLU gate)',
    summary:
      'input-dependent Δ, B, C; chunked linear-recurrence scan for training, O(1) state decoding',
    example: { type: 'mamba', dModel: 8, dState: 4, expand: 2, chunkSize: 4 },
  },
});
