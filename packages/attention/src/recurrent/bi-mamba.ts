import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  estimateOf,
  parseConfig,
  register,
  type IncrementalState,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES, dtRange, silu, ssmFields } from './common';
import { SelectiveSsm, selectiveSsm, selectiveSsmParameters, type SsmSizes } from './selective-ssm';
import { RecurrentState } from './state';

/** 'bi-mamba': Vision Mamba's bidirectional block (Zhu et al. 2024, Alg. 1), used by Audio Mamba. */
export const biMambaSchema = z
  .strictObject({
    type: z.literal('bi-mamba'),
    ...ssmFields,
    /** N, the state size per channel of each direction (default 16). */
    dState: z.number().int().positive().optional(),
    /** Rank of Δ's projection (default ceil(dModel / 16)). */
    dtRank: z.number().int().positive().optional(),
    /** Training form of both scans: 'chunk' (default, 16 steps a chunk) or 'sequential'. */
    form: z.enum(['chunk', 'sequential']).optional(),
  })
  .refine(...dtRange);
export type BiMambaConfig = z.input<typeof biMambaSchema>;

/** Never constructed by a caller: bi-mamba refuses decoding, and so any state. */
class NoState extends RecurrentState {}

function sizesOf(c: BiMambaConfig): SsmSizes {
  const { dModel, expand = 2, dState = 16, dConv = 4, dtRank } = c;
  return {
    inner: expand * dModel,
    state: dState,
    kernel: dConv,
    rank: dtRank ?? Math.ceil(dModel / 16),
  };
}

/**
 * Bidirectional Mamba for encoders: Vision Mamba (Zhu et al. 2024, "Vision Mamba: Efficient Visual
 * Representation Learning with Bidirectional State Space Model", Alg. 1), the block Audio Mamba
 * (Erol et al. 2024, "Audio Mamba: Bidirectional State Space Model for Audio Representation
 * Learning", sec. 3) uses unchanged. One input projection [x, z] = in(u) shared by both
 * directions; for o ∈ {forward, backward} its own conv, x → (Δ, B, C) projections, A and D
 * (Mamba's selective SSM, Gu & Dao 2023, Alg. 2), the backward one run on the time-reversed x and
 * its output reversed back; y = (y_forward + y_backward) ⊙ SiLU(z), out(y) (Alg. 1, lines 17-19).
 * Every token sees the whole input, so it is encoder only: causal use and decoding are refused.
 */
export class BiMamba extends Module<BiMambaConfig> implements TokenMixer {
  readonly inProj: Linear;
  readonly forwardSsm: SelectiveSsm;
  readonly backwardSsm: SelectiveSsm;
  readonly outProj: Linear;

  constructor(config: BiMambaConfig, options: ModuleOptions = {}) {
    super(parseConfig('bi-mamba', biMambaSchema, config), options);
    const { dModel, bias = false } = this.config;
    const { inner } = this.sizes;
    const linear = (i: number, o: number) =>
      new Linear({ inFeatures: i, outFeatures: o, bias }, { rng: this.rng });
    this.inProj = this.addModule('inProj', linear(dModel, 2 * inner));
    const ssm = () => new SelectiveSsm(this.sizes, this.config, this.rng);
    this.forwardSsm = this.addModule('forwardSsm', ssm());
    this.backwardSsm = this.addModule('backwardSsm', ssm());
    this.outProj = this.addModule('outProj', linear(inner, dModel));
  }

  get sizes(): SsmSizes {
    return sizesOf(this.config);
  }

  /** Sees the whole input: never causal, no decoding state. */
  get capabilities(): MixerCapabilities {
    return {
      ...RECURRENT_CAPABILITIES,
      causal: 'never',
      strictlyCausal: false,
      decoding: false,
      stateGrowth: 'none',
    };
  }

  initState(_batch: number): IncrementalState {
    throw new ConfigError(
      'bi-mamba',
      'initState',
      'a mixer that decodes (bi-mamba reads the sequence both ways)',
      'bi-mamba',
    );
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    checkMixerInput('bi-mamba', x, this.config.dModel, context, NoState, this.capabilities);
    const options = {
      form: this.config.form ?? 'chunk',
      chunkSize: this.config.chunkSize ?? 16,
    } as const;
    return tf.tidy(() => {
      const [xIn, z] = tf.split(this.inProj.forward(x), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
      const ahead = selectiveSsm(this.forwardSsm, xIn, this.sizes, options);
      const reversed = tf.reverse(xIn, 1) as tf.Tensor3D;
      const back = selectiveSsm(this.backwardSsm, reversed, this.sizes, options);
      const y = tf.add(ahead.y, tf.reverse(back.y, 1));
      return this.outProj.forward(tf.mul(y, silu(z))) as tf.Tensor3D;
    });
  }
}

/** Shared in/out projections plus two selective SSMs. */
function estimateBiMamba(c: BiMambaConfig) {
  const sizes = sizesOf(c);
  const bias = c.bias ?? false;
  const { inner: e } = sizes;
  const projections = c.dModel * 2 * e + (bias ? 2 * e : 0) + e * c.dModel + (bias ? c.dModel : 0);
  return estimateOf(projections + 2 * selectiveSsmParameters(sizes, c.convBias ?? true));
}

register('bi-mamba', (c, o) => new BiMamba(c, o), biMambaSchema, {
  category: 'mixer',
  estimate: estimateBiMamba,
  info: {
    paper:
      'Zhu et al. 2024, Vision Mamba (Vim), Alg. 1; Erol et al. 2024, Audio Mamba (AuM), sec. 3',
    equation:
      'Vim Alg. 1: shared in-projection, forward and backward S6 (own conv, Δ, B, C, A, D), y = (y_f + y_b) ⊙ SiLU(z), out(y)',
    summary:
      'bidirectional selective SSM for encoders: a forward and a time-reversed Mamba scan summed under one gate',
    example: { type: 'bi-mamba', dModel: 8, dState: 4, expand: 2, chunkSize: 4 },
  },
});
