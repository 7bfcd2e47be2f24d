import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { splitHeads } from '../softmax/heads';
import { LinearMixer, linearMixerParameters, type LinearInputs } from './base';
import { causalOnly } from './causal-only';
import { linearFields } from './config';

/** 'lightning': TransNormerLLM's gated NormAttention with per-head decay (Lightning Attention-2). */
export const lightningSchema = z.strictObject({
  type: z.literal('lightning'),
  ...linearFields,
  /** This layer's 0-based index l in the stack (the decay schedule; default 0). */
  layerIndex: z.number().int().nonnegative().optional(),
  /** Layers L in the stack (default 1). */
  numLayers: z.number().int().positive().optional(),
  /** ε of the SimpleRMSNorm on the output (default 1e-6). */
  eps: z.number().nonnegative().optional(),
});
export type LightningConfig = z.input<typeof lightningSchema>;

/**
 * λ_h = exp(-(8h/H)·(1 - l/L)), h = 1..H (TransNormerLLM, Qin et al. 2023, sec. 3.1, LRPE-d's
 * decay): each head its own rate, lower layers decaying faster. l is the 0-based layer index, so
 * every λ_h < 1 (the authors' code uses ALiBi slopes instead; we follow the paper's equation).
 */
export function lightningDecays(heads: number, layerIndex = 0, numLayers = 1): number[] {
  const depth = 1 - layerIndex / numLayers;
  return Array.from({ length: heads }, (_, i) => Math.exp(((-8 * (i + 1)) / heads) * depth));
}

/**
 * TransNormer's NormAttention (Qin et al. 2022, "The Devil in Linear Transformer", sec. 4,
 * sec. 4: O = Norm(Q (Kᵀ V)), no softmax and no q·z denominator, whose unbounded gradient
 * sec. 3 identifies) with TransNormerLLM's per-head exponential decay and gate (Qin et al. 2023,
 * "Scaling TransNormer to 175 billion parameters", sec. 3.1): per head
 * O_t = Σ_{s<=t} λ_h^(t-s) (q_t·k_s) v_s with q = swish(X W_Q), k = swish(X W_K), then
 * SimpleRMSNorm over the concatenated heads (x / rms(x), no affine) and the output gate
 * (Norm(O) ⊙ swish(X W_U)) W_O. Where the TransNormer papers differ (elu+1 maps and a LayerNorm
 * in TransNormer, swish maps and SRMSNorm in TransNormerLLM) this follows TransNormerLLM.
 *
 * Training uses Lightning Attention-2's tiling (Qin et al. 2024, alg. 1): `linearAttention`'s
 * chunked form with `decay` IS its split: within a block the masked quadratic term
 * (Q Kᵀ ⊙ M) V with M_ts = λ^(t-s) (intra-block), across blocks Λ Q S carried in the
 * recurrent state S ← λ^C S + (λ^(C-s) K)ᵀ V (inter-block). Decoding runs the recurrent form.
 */
export class Lightning extends LinearMixer<LightningConfig> {
  /** W_U, the output gate (TransNormerLLM sec. 3.1). */
  readonly u: Linear;
  readonly decays: number[];

  constructor(config: LightningConfig, options: ModuleOptions = {}) {
    const parsed = causalOnly(parseConfig('lightning', lightningSchema, config));
    const { layerIndex = 0, numLayers = 1 } = parsed;
    if (layerIndex >= numLayers) {
      throw new ConfigError('lightning', 'layerIndex', `< numLayers=${numLayers}`, `${layerIndex}`);
    }
    super(parsed, options);
    const { dModel, bias } = this.config;
    const width = this.layout.outputHeads * this.layout.valueDim;
    const gate = new Linear(
      { inFeatures: dModel, outFeatures: width, bias: bias ?? false },
      {
        rng: this.rng,
      },
    );
    this.u = this.addModule('u', gate);
    this.decays = lightningDecays(this.layout.queryHeads, layerIndex, numLayers);
  }

  /** The decay runs towards the past: causal only. */
  override get capabilities(): MixerCapabilities {
    return { ...super.capabilities, causal: 'only' };
  }

  protected inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    _x: tf.Tensor3D,
    _c: MixerContext,
  ): LinearInputs {
    const swish = (x: tf.Tensor4D) => tf.mul(x, tf.sigmoid(x)) as tf.Tensor4D;
    return { q: swish(q), k: swish(k), v, options: { decay: this.decays } };
  }

  protected override finish(heads: tf.Tensor4D, x: tf.Tensor3D): tf.Tensor4D {
    const { outputHeads, valueDim } = this.layout;
    const eps = this.config.eps ?? 1e-6;
    // SimpleRMSNorm over all heads of a token together (the heads' concatenation).
    const rms = tf.rsqrt(tf.add(tf.mean(tf.square(heads), [1, 3], true), eps));
    const u = splitHeads(this.u.forward(x), outputHeads, valueDim);
    return tf.mul(tf.mul(heads, rms), tf.mul(u, tf.sigmoid(u))) as tf.Tensor4D;
  }
}

register('lightning', (c, o) => new Lightning(c, o), lightningSchema, {
  category: 'mixer',
  // Projections and the output gate W_U; the decays are one number per head.
  estimate: (c) => estimateOf(linearMixerParameters(c, true), 8 * c.numHeads),
  info: {
    paper:
      'Qin et al. 2023, Scaling TransNormer to 175 Billion Parameters (TransNormerLLM); Qin et al. 2024, Lightning Attention-2',
    equation:
      'TransNormer sec. 4 (NormAttention); TransNormerLLM sec. 3.1 (λ_h = exp(-8h/H·(1-l/L)), SRMSNorm, swish gate); Lightning-2 alg. 1 (intra/inter blocks)',
    summary: 'decayed NormAttention with an output gate, trained in intra-/inter-block chunks',
    example: { type: 'lightning', dModel: 16, numHeads: 2, numLayers: 2, layerIndex: 1 },
  },
});
