import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { checkMixerInput } from '../softmax/heads';
import { RECURRENT_CAPABILITIES, dtRange, ssmFields } from './common';
import { SelectiveSsm } from './selective';
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

/** Mamba's decoding state: the convolution's last dConv-1 inputs and the SSM state h [b, E·d, N]. */
export class MambaState extends RecurrentState {}

/**
 * Mamba, selective state spaces (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with
 * Selective State Spaces"), as a token mixer. Sec. 3.4's block: [x, z] = in(u); x = SiLU(conv(x));
 * Alg. 2 on x: Δ = softplus(W_Δ(W_r x) + b_Δ), B = W_B x, C = W_C x, A = -exp(A_log) (S4D-real,
 * A_n = n + 1), zero-order hold Ā = exp(ΔA) and B̄x ≈ ΔBx (as the reference code), the
 * selective scan h_t = Ā_t ⊙ h_{t-1} + B̄_t x_t (linearRecurrence), y = C h + D x; out(y ⊙ SiLU(z)).
 * Trains with the chunked scan; decodes in O(1) per token with the conv tail and h. The SSM up
 * to the gate is `SelectiveSsm` (shared with Hymba); this adds the output projection.
 */
export class Mamba extends SelectiveSsm<MambaConfig> implements TokenMixer {
  readonly outProj: Linear;

  constructor(config: MambaConfig, options: ModuleOptions = {}) {
    super(parseConfig('mamba', mambaSchema, config), options);
    const { dModel, bias = false } = this.config;
    const linear = new Linear(
      { inFeatures: this.sizes.inner, outFeatures: dModel, bias },
      { rng: this.rng },
    );
    this.outProj = this.addModule('outProj', linear);
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
    const [output, conv, ssm] = tf.tidy(() => {
      const carry = { conv: state?.read<tf.Tensor3D>('conv'), ssm: state?.read('ssm') };
      const r = this.scan(x, carry);
      return [this.outProj.forward(r.y) as tf.Tensor3D, r.conv, r.ssm];
    });
    if (state) state.update({ conv, ssm }, x.shape[1]);
    else tf.dispose([conv, ssm]);
    return output;
  }
}

register('mamba', (c, o) => new Mamba(c, o), mambaSchema, {
  category: 'mixer',
  info: {
    paper: 'Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces',
    equation:
      'Alg. 2 (selective scan, S6), eq. 4 (ZOH: Ā = exp(ΔA), B̄ ≈ ΔB), sec. 3.4 block (conv, SiLU gate)',
    summary:
      'input-dependent Δ, B, C; chunked linear-recurrence scan for training, O(1) state decoding',
    example: { type: 'mamba', dModel: 8, dState: 4, expand: 2, chunkSize: 4 },
  },
});
