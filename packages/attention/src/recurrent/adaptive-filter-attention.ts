import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
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
import { checkMixerInput, inputPositions } from '../softmax/heads';
import { RECURRENT_CAPABILITIES } from './common';
import { RecurrentState } from './state';

/** 'adaptive-filter-attention': isotropic AFA (Racioppo 2025, sec. 3.6). */
export const adaptiveFilterAttentionSchema = z
  .strictObject({
    type: z.literal('adaptive-filter-attention'),
    dModel: z.number().int().positive(),
    numHeads: z.number().int().positive(),
    /** Real width per head, even: headDim/2 complex dimensions (default dModel / numHeads). */
    headDim: z.number().int().positive().optional(),
    /** Biases on the q/k/v/o projections (default false). */
    bias: z.boolean().optional(),
  })
  .refine((c) => c.headDim !== undefined || c.dModel % c.numHeads === 0, {
    path: ['numHeads'],
    message: 'a divisor of dModel (or set headDim)',
  })
  .refine((c) => (c.headDim ?? c.dModel / c.numHeads) % 2 === 0, {
    path: ['headDim'],
    message: 'even (real and imaginary halves; default dModel / numHeads)',
  });
export type AdaptiveFilterAttentionConfig = z.input<typeof adaptiveFilterAttentionSchema>;

/** AFA's decoding state: the rotated keys k̃ and values ṽ so far, [b, heads, n, headDim]. */
export class AdaptiveFilterState extends RecurrentState {}

/** (re + i·im)·e^{±iθ} on [..., 2m] = [re, im], θ [..., m] broadcast. */
function rotateComplex(x: tf.Tensor, theta: tf.Tensor, sign: 1 | -1): tf.Tensor {
  const [re, im] = tf.split(x, 2, -1);
  const [cos, sin] = [tf.cos(theta), tf.mul(tf.sin(theta), sign)];
  return tf.concat(
    [tf.sub(tf.mul(re!, cos), tf.mul(im!, sin)), tf.add(tf.mul(im!, cos), tf.mul(re!, sin))],
    -1,
  );
}

/**
 * Adaptive Filter Attention, isotropic form (Racioppo 2025, "Attention as an Adaptive Filter",
 * arXiv 2509.04154, sec. 2.5 closed-form DLE, sec. 3.5-3.6 factorised residuals with isotropic
 * decay and noise). Tokens are complex observations of the LTI SDE dx = Λx dt + noise with
 * Λ = −μ + iΩ per head (μ ≥ 0 shared, Ω one frequency per complex dimension). Key j pulled
 * forward to query i (Δ = t_i − t_j ≥ 0): k̂_ij = e^{ΛΔ} k_j, its propagated variance
 * V_ij = σ²(1 − e^{−2μΔ})/(2μ) + η² e^{−2μΔ} + γ² (process, key-measurement and anchor noise),
 * the residual |R_ij|² = |q_i − k̂_ij|² = |q̃_i|² + E²|k̃_j|² − 2E Re(q̃_iᴴ k̃_j) with E = e^{−μΔ},
 * q̃ = e^{−iΩt} q (one matmul: O(T² d) like attention). Weights: the robust reweighting of the
 * precision 1/V_ij, A = softmax_j(τ²[−log V_ij − log(1 + |R_ij|²/(ν m V_ij))]) over j ≤ i;
 * the estimate is the weighted mean of the pulled-forward values,
 * ẑ_i = e^{iΩt_i} Σ_j A_ij E_ij ṽ_j, whose real and imaginary parts go through the output
 * projection. Where the text leaves choices (which bias, the robust weight, the decay on the
 * estimate) this follows the author's isotropic reference implementation; its optional inner
 * residual, precision gate, complex norms and next-step prediction are left out.
 */
export class AdaptiveFilterAttention
  extends Module<AdaptiveFilterAttentionConfig>
  implements TokenMixer
{
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  /** μ = softplus(decay) + 1e-4 per head. */
  readonly decay: tf.Variable;
  /** Ω [heads, headDim/2], RoPE's frequencies at first. */
  readonly frequencies: tf.Variable;
  /** σ², η², γ², ν = softplus(·) (+1e-6 for η², γ², ν), τ: per head. */
  readonly processNoise: tf.Variable;
  readonly measurementNoise: tf.Variable;
  readonly anchorNoise: tf.Variable;
  readonly robustness: tf.Variable;
  readonly temperature: tf.Variable;

  constructor(config: AdaptiveFilterAttentionConfig, options: ModuleOptions = {}) {
    super(parseConfig('adaptive-filter-attention', adaptiveFilterAttentionSchema, config), options);
    const { dModel, numHeads: h, bias = false } = this.config;
    const width = h * this.headDim;
    const m = this.headDim / 2;
    const linear = (i: number, o: number) =>
      new Linear({ inFeatures: i, outFeatures: o, bias }, { rng: this.rng });
    this.q = this.addModule('q', linear(dModel, width));
    this.k = this.addModule('k', linear(dModel, width));
    this.v = this.addModule('v', linear(dModel, width));
    this.o = this.addModule('o', linear(width, dModel));
    const perHead = (value: number) => tf.fill([h], value);
    this.decay = this.addParameter('decay', perHead(-3)); // μ ≈ 0.05
    const omega = Float32Array.from({ length: h * m }, (_, i) => 1 / 10000 ** ((i % m) / m));
    this.frequencies = this.addParameter('frequencies', tf.tensor2d(omega, [h, m]));
    this.processNoise = this.addParameter('processNoise', perHead(-2));
    this.measurementNoise = this.addParameter('measurementNoise', perHead(0));
    this.anchorNoise = this.addParameter('anchorNoise', perHead(0));
    this.robustness = this.addParameter('robustness', perHead(1));
    this.temperature = this.addParameter('temperature', perHead(1));
  }

  get headDim(): number {
    return this.config.headDim ?? this.config.dModel / this.config.numHeads;
  }

  /** Causal only; its own rotation and decay stand for positions (no rotary or bias). */
  get capabilities(): MixerCapabilities {
    return { ...RECURRENT_CAPABILITIES, stateGrowth: 'linear' };
  }

  initState(_batch: number): AdaptiveFilterState {
    return new AdaptiveFilterState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'adaptive-filter-attention';
    const { dModel, numHeads: h } = this.config;
    const state = checkMixerInput(
      block,
      x,
      dModel,
      context,
      AdaptiveFilterState,
      this.capabilities,
    );
    const [b, t] = x.shape;
    const d = this.headDim;
    const start = state?.length ?? 0;
    const positions = inputPositions(block, context, t, start);
    const { output, keys, values } = tf.tidy(() => {
      const heads = (y: tf.Tensor) => tf.transpose(tf.reshape(y, [b, t, h, d]), [0, 2, 1, 3]);
      // θ_i = Ω t_i: [heads, t, m].
      const times = tf.tensor1d(positions);
      const theta = tf.mul(tf.expandDims(this.frequencies, 1), tf.reshape(times, [1, t, 1]));
      const qr = rotateComplex(heads(this.q.forward(x)), theta, -1);
      let kr = rotateComplex(heads(this.k.forward(x)), theta, -1);
      let vr = rotateComplex(heads(this.v.forward(x)), theta, -1);
      const cachedKeys = state?.read('keys');
      if (cachedKeys) {
        kr = tf.concat([cachedKeys, kr], 2);
        vr = tf.concat([state!.read('values')!, vr], 2);
      }
      const n = kr.shape[2]!;
      // Key times: consecutive before the first new token.
      const shift = positions[0]! - start;
      const keyTimes = Array.from({ length: n }, (_, j) =>
        j < n - t ? start - (n - t) + j + shift : positions[j - (n - t)]!,
      );
      const weights = this.weights(qr, kr, positions, keyTimes);
      const estimate = tf.matMul(weights.decayed, vr); // Σ_j A_ij E_ij ṽ_j
      const merged = tf.reshape(tf.transpose(rotateComplex(estimate, theta, 1), [0, 2, 1, 3]), [
        b,
        t,
        h * d,
      ]);
      return { output: this.o.forward(merged) as tf.Tensor3D, keys: kr, values: vr };
    });
    if (state) state.update({ keys, values }, t);
    else tf.dispose([keys, values]);
    return output;
  }

  /** A ⊙ E [b, heads, t, n] from rotated queries and keys at their times. */
  private weights(
    qr: tf.Tensor,
    kr: tf.Tensor,
    queryTimes: number[],
    keyTimes: number[],
  ): { decayed: tf.Tensor } {
    const [t, n] = [queryTimes.length, keyTimes.length];
    const gap = new Float32Array(t * n);
    const visible = new Float32Array(t * n);
    queryTimes.forEach((ti, i) =>
      keyTimes.forEach((tj, j) => {
        gap[i * n + j] = Math.max(ti - tj, 0);
        visible[i * n + j] = tj <= ti ? 1 : 0;
      }),
    );
    const h = this.config.numHeads;
    const perHead = (p: tf.Tensor) => tf.reshape(p, [1, h, 1, 1]);
    const mu = perHead(tf.add(tf.softplus(this.decay), 1e-4));
    const delta = tf.reshape(tf.tensor2d(gap, [t, n]), [1, 1, t, n]);
    const decay = tf.exp(tf.neg(tf.mul(mu, delta))); // E = e^{−μΔ}
    const decay2 = tf.square(decay);
    // V = σ²(1 − e^{−2μΔ})/(2μ) + η² E² + γ².
    const sigma2 = perHead(tf.softplus(this.processNoise));
    const eta2 = perHead(tf.add(tf.softplus(this.measurementNoise), 1e-6));
    const gamma2 = perHead(tf.add(tf.softplus(this.anchorNoise), 1e-6));
    const diffusion = tf.div(tf.neg(tf.expm1(tf.mul(-2, tf.mul(mu, delta)))), tf.mul(2, mu));
    const variance = tf.add(tf.add(tf.mul(sigma2, diffusion), tf.mul(eta2, decay2)), gamma2);
    // |R|² = |q̃|² + E²|k̃|² − 2E Re(q̃ᴴk̃).
    const qNorm = tf.sum(tf.square(qr), -1, true);
    const kNorm = tf.expandDims(tf.sum(tf.square(kr), -1), 2);
    const cross = tf.matMul(qr, kr, false, true);
    const residual = tf.relu(
      tf.sub(tf.add(qNorm, tf.mul(decay2, kNorm)), tf.mul(2, tf.mul(decay, cross))),
    ); // ≥ 0 up to rounding
    const nu = perHead(tf.add(tf.softplus(this.robustness), 1e-6));
    const m = this.headDim / 2;
    const robust = tf.log1p(tf.div(residual, tf.mul(tf.mul(nu, m), variance)));
    const tau2 = perHead(tf.square(this.temperature));
    const scores = tf.mul(tau2, tf.neg(tf.add(tf.log(variance), robust)));
    const mask = tf.reshape(tf.tensor2d(visible, [t, n]), [1, 1, t, n]);
    const attention = tf.softmax(tf.add(scores, tf.mul(tf.sub(1, mask), -1e9)));
    return { decayed: tf.mul(attention, decay) };
  }
}

/** q, k, v, o projections and 6 + headDim/2 dynamics and noise parameters per head. */
function estimateAfa(c: AdaptiveFilterAttentionConfig) {
  const hd = c.headDim ?? c.dModel / c.numHeads;
  const width = c.numHeads * hd;
  const bias = c.bias ?? false;
  const projections =
    3 * (c.dModel * width + (bias ? width : 0)) + width * c.dModel + (bias ? c.dModel : 0);
  return estimateOf(projections + c.numHeads * (6 + hd / 2));
}

register(
  'adaptive-filter-attention',
  (c, o) => new AdaptiveFilterAttention(c, o),
  adaptiveFilterAttentionSchema,
  {
    category: 'mixer',
    estimate: estimateAfa,
    info: {
      paper: 'Racioppo 2025, Attention as an Adaptive Filter (arXiv 2509.04154)',
      equation:
        'sec. 2.5 (closed-form DLE variance), sec. 3.5-3.6 (factorised residual, isotropic decay and noise): A = softmax(τ²[−log V − log(1 + |R|²/(νmV))])',
      summary:
        'attention weights as robust, residual-reweighted precisions of keys propagated by a learned complex linear SDE; KV-cache decoding',
      example: { type: 'adaptive-filter-attention', dModel: 8, numHeads: 2 },
    },
  },
);
