import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Linear, parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { deltaBias } from '../recurrent/common';
import { RecurrentState } from '../recurrent/state';
import { DeltaMixer, deltaFields, estimateDelta, headDimRule } from './delta-base';

/** 'gated-deltanet': the gated delta rule (Yang, Kautz & Hatamizadeh 2025). */
export const gatedDeltaNetSchema = z
  .strictObject({ type: z.literal('gated-deltanet'), ...deltaFields })
  .refine(...headDimRule);
export type GatedDeltaNetConfig = z.input<typeof gatedDeltaNetSchema>;

/** Gated DeltaNet's decoding state: the convolution's last dConv-1 inputs and S [b, h, dk, dv]. */
export class GatedDeltaNetState extends RecurrentState {}

/**
 * Gated DeltaNet, "Gated Delta Networks: Improving Mamba2 with Delta Rule" (Yang, Kautz &
 * Hatamizadeh 2025, sec. 3): S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ, o_t = S_tᵀ q_t
 * / √dk, with Mamba-2's data-dependent decay α_t = exp(−exp(A_log) · softplus(x_t W_a + b_Δ))
 * per head (A uniform in (0, 16], Δ's bias as Mamba initialises it), in DeltaNet's layer with the
 * output gate Norm(o) ⊙ SiLU(x W_g) on and dv = 2·dk (flash-linear-attention's defaults).
 */
export class GatedDeltaNet extends DeltaMixer<GatedDeltaNetConfig> {
  protected readonly stateKind = GatedDeltaNetState;
  /** W_a: the forget gate's input, one per head. */
  readonly a: Linear;
  readonly aLog: tf.Variable;
  readonly dtBias: tf.Variable;

  constructor(config: GatedDeltaNetConfig, options: ModuleOptions = {}) {
    super(parseConfig('gated-deltanet', gatedDeltaNetSchema, config), options, true);
    const { dModel, numHeads: h } = this.config;
    this.a = this.addModule(
      'a',
      new Linear({ inFeatures: dModel, outFeatures: h, bias: false }, { rng: this.rng }),
    );
    const a = Float32Array.from({ length: h }, () => Math.log(16 * (1 - this.rng.uniform())));
    this.aLog = this.addParameter('aLog', tf.tensor1d(a));
    this.dtBias = this.addParameter('dtBias', deltaBias(h, 0.001, 0.1, this.rng));
  }

  /** log α = −exp(A_log) · softplus(x W_a + b_Δ) <= 0, [b, h, t]. */
  protected forgetGate(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const dt = tf.softplus(tf.add(this.a.forward(x), this.dtBias));
      return tf.transpose(tf.mul(dt, tf.neg(tf.exp(this.aLog))), [0, 2, 1]) as tf.Tensor3D;
    });
  }
}

register('gated-deltanet', (c, o) => new GatedDeltaNet(c, o), gatedDeltaNetSchema, {
  category: 'mixer',
  estimate: (c: GatedDeltaNetConfig) => estimateDelta(c, true),
  info: {
    paper: 'Yang, Kautz & Hatamizadeh 2025, Gated Delta Networks: Improving Mamba2 with Delta Rule',
    equation:
      'sec. 3: S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ, α_t = exp(−exp(A_log)·softplus(x W_a + b)); chunkwise WY form',
    summary:
      'delta rule with a Mamba-2-style forget gate per head and an output gate; constant state',
    example: { type: 'gated-deltanet', dModel: 8, numHeads: 2, dConv: 3, chunkSize: 4 },
  },
});
