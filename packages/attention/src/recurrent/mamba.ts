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
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES, dtRange, silu, ssmFields } from './common';
import {
  addSelectiveSsm,
  selectiveSsm,
  selectiveSsmParameters,
  type SsmOwner,
  type SsmSizes,
} from './selective-ssm';
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
export function mambaSizes(config: MambaConfig): SsmSizes {
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
    const { dModel, bias = false } = this.config;
    const { inner } = this.sizes;
    const linear = (i: number, o: number, b: boolean) =>
      new Linear({ inFeatures: i, outFeatures: o, bias: b }, { rng: this.rng });
    this.inProj = this.addModule('inProj', linear(dModel, 2 * inner, bias));
    const owner: SsmOwner = {
      parameter: (name, t) => this.addParameter(name, t),
      module: (name, m) => this.addModule(name, m),
    };
    const ssm = addSelectiveSsm(owner, this.rng, this.sizes, this.config);
    this.convWeight = ssm.convWeight;
    this.convBias = ssm.convBias;
    this.xProj = ssm.xProj;
    this.dtProj = ssm.dtProj;
    this.aLog = ssm.aLog;
    this.d = ssm.d;
    this.outProj = this.addModule('outProj', linear(inner, dModel, bias));
  }

  /** Inner width E·d, state size N, conv kernel, Δ's rank. */
  get sizes(): SsmSizes {
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
    const t = x.shape[1];
    const [output, conv, ssm] = tf.tidy(() => {
      const [xIn, z] = tf.split(this.inProj.forward(x), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
      const r = selectiveSsm(this, xIn, this.sizes, {
        form: t === 1 || this.config.form === 'sequential' ? 'sequential' : 'chunk',
        chunkSize: this.config.chunkSize ?? 16,
        conv: state?.read<tf.Tensor3D>('conv'),
        ssm: state?.read('ssm'),
      });
      const out = this.outProj.forward(tf.mul(r.y, silu(z))) as tf.Tensor3D;
      return [out, r.conv, r.ssm];
    });
    if (state) state.update({ conv, ssm }, t);
    else tf.dispose([conv, ssm]);
    return output;
  }
}

/** The in and out projections (+ biases) and the selective SSM's parameters. */
function estimateMamba(c: MambaConfig): Estimate {
  const sizes = mambaSizes(c);
  const { inner: e } = sizes;
  const d = c.dModel;
  const bias = c.bias ?? false;
  const projections = d * 2 * e + (bias ? 2 * e : 0) + e * d + (bias ? d : 0);
  return estimateOf(projections + selectiveSsmParameters(sizes, c.convBias ?? true));
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
