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
  type PositionalEncoding,
  type TokenMixer,
} from '@attnkit/core';
import { linearRecurrence } from '../ops/scan';
import { dampedEmaChunks } from '../ops/scan/damped-ema';
import { checkMixerInput, inputPositions, positionalBias, rotate } from '../softmax/heads';
import { scaledDotProductAttention } from '../ops/sdpa';
import { RECURRENT_CAPABILITIES, silu } from './common';
import { RecurrentState } from './state';

/** Tokens per chunk of the EMA's chunk form (its Toeplitz products are [c, c] per channel). */
const EMA_CHUNK = 64;

/** 'mega': damped EMA then single-head gated attention (Ma et al. 2023, sec. 3). */
export const megaSchema = z.strictObject({
  type: z.literal('mega'),
  dModel: z.number().int().positive(),
  /** z, the width of the shared Z = Q/K (default ⌈dModel/4⌉, the paper's 128 for d = 512). */
  zDim: z.number().int().positive().optional(),
  /** v, the width of V (default 2·dModel, as the paper). */
  vDim: z.number().int().positive().optional(),
  /** h, the EMA dimensions per channel (default 16, as the paper). */
  emaDim: z.number().int().positive().optional(),
  /** f of the attention: 'softmax' (default) or 'laplace' (sec. 3.3). */
  attention: z.enum(['softmax', 'laplace']).optional(),
  /** Mega-chunk (sec. 3.5): attention within chunks of this many tokens; absent: full causal. */
  chunkSize: z.number().int().positive().optional(),
  /** Training form of the EMA scan: 'chunk' (default) or 'sequential'. */
  form: z.enum(['chunk', 'sequential']).optional(),
});
export type MegaConfig = z.input<typeof megaSchema>;

/**
 * Mega's decoding state: the EMA's h [b, d, h] and the keys and values of the current attention
 * chunk (every token so far without chunkSize), [b, n, z] and [b, n, v].
 */
export class MegaState extends RecurrentState {
  store(next: { ema: tf.Tensor; keys: tf.Tensor | null; values: tf.Tensor | null }, n: number) {
    this.setTensor('ema', next.ema);
    this.setTensor('keys', next.keys);
    this.setTensor('values', next.values);
    this.advance(n);
  }
}

/** laplace(x) = ½(1 + erf((x − μ)/(σ√2))), μ = √½, σ = √(1/4π) (sec. 3.3, the paper's f). */
function laplace(x: tf.Tensor): tf.Tensor {
  const mu = Math.SQRT1_2;
  const sigma = Math.sqrt(1 / (4 * Math.PI));
  return tf.mul(0.5, tf.add(1, tf.erf(tf.div(tf.sub(x, mu), sigma * Math.SQRT2))));
}

/**
 * Mega (Ma et al. 2023, "Mega: Moving Average Equipped Gated Attention", ICLR).
 * Multi-dimensional damped EMA (sec. 3.1-3.2, eqs. 2-3), per channel j and EMA dimension:
 * u_t = β_j x_{t,j}, h_t = α_j ⊙ u_t + (1 − α_j ⊙ δ_j) ⊙ h_{t−1} (`linearRecurrence`),
 * X'_{t,j} = η_jᵀ h_t, with α = σ(·), δ = σ(·). Single-head gated attention (sec. 3.3):
 * Z = SiLU(X'W_z + b_z), Q = κ_q ⊙ Z + μ_q, K = κ_k ⊙ Z + μ_k, V = SiLU(XW_v + b_v),
 * O = f(QKᵀ/τ + b_rel) V with f = softmax (τ = √z) or laplace (τ = the number of keys the query
 * sees, which is the reference code's key count when it decodes), reset γ = SiLU(X'W_γ + b_γ),
 * update φ = σ(X'W_φ + b_φ), Ĥ = SiLU(X'W_h + (γ ⊙ O)U_h + b_h), Y = φ ⊙ Ĥ + (1 − φ) ⊙ X.
 * Causal; b_rel and rotary come from the context's encoding. Mega-chunk (sec. 3.5): attention
 * within chunks of `chunkSize` tokens, the EMA across the whole sequence: linear cost, and
 * decoding keeps the EMA state and the current chunk's keys and values (bounded).
 */
export class Mega extends Module<MegaConfig> implements TokenMixer {
  readonly emaAlpha: tf.Variable;
  readonly emaDelta: tf.Variable;
  readonly emaBeta: tf.Variable;
  readonly emaEta: tf.Variable;
  readonly zProj: Linear;
  readonly qkScale: tf.Variable;
  readonly qkOffset: tf.Variable;
  readonly vProj: Linear;
  readonly resetProj: Linear;
  readonly updateProj: Linear;
  readonly hProj: Linear;
  readonly hReset: Linear;

  constructor(config: MegaConfig, options: ModuleOptions = {}) {
    super(parseConfig('mega', megaSchema, config), options);
    const { dModel: d } = this.config;
    const { z: zDim, v, h } = this.sizes;
    const normal = (shape: number[], std: number, mean: (i: number) => number = () => 0) =>
      tf.tensor(
        Float32Array.from(
          { length: shape[0]! * shape[1]! },
          (_, i) => mean(i) + this.rng.normal() * std,
        ),
        shape,
      );
    // The reference code's init: α, δ ~ N(0, 0.2) before σ; β ~ N(±1, 0.02) alternating over the
    // EMA dimensions; η ~ N(0, 1); κ ~ N(0, 0.02), μ = 0.
    this.emaAlpha = this.addParameter('emaAlpha', normal([d, h], 0.2));
    this.emaDelta = this.addParameter('emaDelta', normal([d, h], 0.2));
    this.emaBeta = this.addParameter(
      'emaBeta',
      normal([d, h], 0.02, (i) => ((i % h) % 2 ? -1 : 1)),
    );
    this.emaEta = this.addParameter('emaEta', normal([d, h], 1));
    const linear = (i: number, o: number, bias = true) =>
      new Linear({ inFeatures: i, outFeatures: o, bias }, { rng: this.rng });
    this.zProj = this.addModule('zProj', linear(d, zDim));
    this.qkScale = this.addParameter('qkScale', normal([2, zDim], 0.02));
    this.qkOffset = this.addParameter('qkOffset', tf.zeros([2, zDim]));
    this.vProj = this.addModule('vProj', linear(d, v));
    this.resetProj = this.addModule('resetProj', linear(d, v));
    this.updateProj = this.addModule('updateProj', linear(d, d));
    this.hProj = this.addModule('hProj', linear(d, d));
    this.hReset = this.addModule('hReset', linear(v, d, false));
  }

  /** z, v and the EMA dimensions h. */
  get sizes(): { z: number; v: number; h: number } {
    return megaSizes(this.config);
  }

  get capabilities(): MixerCapabilities {
    return {
      ...RECURRENT_CAPABILITIES,
      positional: ['rotate', 'bias'],
      stateGrowth: this.config.chunkSize === undefined ? 'linear' : 'constant',
    };
  }

  initState(_batch: number): MegaState {
    return new MegaState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const state = checkMixerInput(
      'mega',
      x,
      this.config.dModel,
      context,
      MegaState,
      this.capabilities,
    );
    const t = x.shape[1];
    const start = state?.length ?? 0;
    const positions = inputPositions('mega', context, t, start);
    const { output, ema, cache } = tf.tidy(() => {
      const { output: xEma, state: ema } = this.movingAverage(x, state?.read('ema'));
      const zs = silu(this.zProj.forward(xEma));
      const [scale, offset] = [tf.split(this.qkScale, 2, 0), tf.split(this.qkOffset, 2, 0)];
      const head = (y: tf.Tensor) => tf.expandDims(y, 1) as tf.Tensor4D; // [b, 1, t, z]
      const pos = context.positional;
      const q = rotate(pos, head(tf.add(tf.mul(zs, scale[0]!), offset[0]!)), positions);
      const k = rotate(pos, head(tf.add(tf.mul(zs, scale[1]!), offset[1]!)), positions);
      const v = silu(this.vProj.forward(x));
      const cached = state?.read('keys');
      const attention = this.attend(
        tf.squeeze(q, [1]) as tf.Tensor3D,
        tf.squeeze(k, [1]) as tf.Tensor3D,
        v as tf.Tensor3D,
        { start, positions, positional: pos },
        cached
          ? { keys: cached as tf.Tensor3D, values: state!.read<tf.Tensor3D>('values')! }
          : undefined,
      );
      const gamma = silu(this.resetProj.forward(xEma));
      const phi = tf.sigmoid(this.updateProj.forward(xEma));
      const hHat = silu(
        tf.add(this.hProj.forward(xEma), this.hReset.forward(tf.mul(gamma, attention.output))),
      );
      const y = tf.add(tf.mul(phi, hHat), tf.mul(tf.sub(1, phi), x)) as tf.Tensor3D;
      const kept = attention.keys ? [attention.keys, attention.values!] : [];
      return { output: y, ema, cache: kept };
    });
    const [keys = null, values = null] = cache;
    if (state) state.store({ ema, keys, values }, t);
    else tf.dispose([ema, ...cache]);
    return output;
  }

  /** Eqs. 2-3: X' [b, t, d] and the last h [b, d, h]. */
  movingAverage(x: tf.Tensor3D, h0?: tf.Tensor): { output: tf.Tensor; state: tf.Tensor } {
    return tf.tidy(() => {
      const { h } = this.sizes;
      const [, t, d] = x.shape;
      const alpha = tf.sigmoid(this.emaAlpha);
      const q = tf.sub(1, tf.mul(alpha, tf.sigmoid(this.emaDelta))) as tf.Tensor2D;
      const w = tf.mul(alpha, this.emaBeta) as tf.Tensor2D; // α ⊙ β
      if (t > 1 && this.config.form !== 'sequential') {
        const weights = { decay: q, input: w, output: this.emaEta as tf.Tensor2D };
        return dampedEmaChunks(x, weights, EMA_CHUNK, h0);
      }
      // The reference: every state [b, t, d, h] by the linear recurrence.
      const drive = tf.mul(tf.expandDims(x, 3), w); // α ⊙ β x
      const r = linearRecurrence(tf.reshape(q, [1, 1, d, h]), drive, {
        form: 'sequential',
        initialState: h0,
      });
      const output = tf.sum(tf.mul(r.output, this.emaEta), 3);
      return { output, state: r.state };
    });
  }

  /**
   * Causal attention of the new tokens (sequence indices start..start+t-1) within their chunks:
   * the keys of each chunk are the cached ones of that chunk (first chunk only) and its new
   * ones. Returns O [b, t, v] and the keys/values of the chunk the last token is in (null once
   * a chunk is complete).
   */
  private attend(
    q: tf.Tensor3D,
    k: tf.Tensor3D,
    v: tf.Tensor3D,
    where: { start: number; positions: number[]; positional?: PositionalEncoding },
    cache?: { keys: tf.Tensor3D; values: tf.Tensor3D },
  ): { output: tf.Tensor3D; keys: tf.Tensor3D | null; values: tf.Tensor3D | null } {
    const c = this.config.chunkSize ?? Infinity;
    if (!cache && this.config.attention !== 'laplace' && !where.positional?.bias) {
      return this.attendChunksAsHeads(q, k, v, c);
    }
    const { start, positions } = where;
    const end = start + q.shape[1];
    // Key positions of cached keys: consecutive before the first new token.
    const shift = positions[0]! - start;
    const outputs: tf.Tensor[] = [];
    let keys: tf.Tensor3D | null = cache?.keys ?? null;
    let values: tf.Tensor3D | null = cache?.values ?? null;
    for (let s = start; s < end;) {
      const e = c === Infinity ? end : Math.min(end, (Math.floor(s / c) + 1) * c);
      const slice = (y: tf.Tensor3D) =>
        tf.slice(y, [0, s - start, 0], [-1, e - s, -1]) as tf.Tensor3D;
      const base = s - (keys ? keys.shape[1] : 0); // sequence index of the segment's first key
      keys = keys ? (tf.concat([keys, slice(k)], 1) as tf.Tensor3D) : slice(k);
      values = values ? (tf.concat([values, slice(v)], 1) as tf.Tensor3D) : slice(v);
      const queryPositions = positions.slice(s - start, e - start);
      const keyPositions = Array.from({ length: e - base }, (_, j) =>
        j < s - base ? base + j + shift : positions[j - (s - base) + (s - start)]!,
      );
      outputs.push(
        this.segment(
          slice(q),
          keys,
          values,
          { first: s - base, queryPositions, keyPositions },
          where.positional,
        ),
      );
      // A chunk that ends here is done: the next one starts with no cached keys.
      if (e % c === 0) keys = values = null;
      s = e;
    }
    return { output: tf.concat(outputs, 1) as tf.Tensor3D, keys, values };
  }

  /**
   * The same from the first token with softmax and no positional bias (training, prefill):
   * every chunk is a head of one causal scaled dot-product attention ([b, chunks, c, ·]; the
   * last chunk padded at its end, which no real query sees), so the fused kernel runs it.
   */
  private attendChunksAsHeads(
    q: tf.Tensor3D,
    k: tf.Tensor3D,
    v: tf.Tensor3D,
    chunkSize: number,
  ): { output: tf.Tensor3D; keys: tf.Tensor3D | null; values: tf.Tensor3D | null } {
    const [b, t] = q.shape;
    const size = Math.min(chunkSize, t);
    const chunks = Math.ceil(t / size);
    const padded = chunks * size;
    const asHeads = (y: tf.Tensor3D) => {
      const full =
        padded > t
          ? tf.pad(y, [
              [0, 0],
              [0, padded - t],
              [0, 0],
            ])
          : y;
      return tf.reshape(full, [b, chunks, size, y.shape[2]]) as tf.Tensor4D;
    };
    const { output } = scaledDotProductAttention(asHeads(q), asHeads(k), asHeads(v), {
      causal: true,
      scale: 1 / Math.sqrt(this.sizes.z),
    });
    const dv = v.shape[2];
    let out = tf.reshape(output, [b, padded, dv]) as tf.Tensor3D;
    if (padded > t) out = tf.slice(out, [0, 0, 0], [b, t, dv]);
    // Decoding goes on from the chunk the last token is in, unless it is complete.
    const open = chunkSize === Infinity ? t : t % chunkSize;
    if (open === 0) return { output: out, keys: null, values: null };
    const tail = (y: tf.Tensor3D) => tf.slice(y, [0, t - open, 0], [b, open, y.shape[2]]);
    return { output: out, keys: tail(k), values: tail(v) };
  }

  /**
   * O = f(QKᵀ/τ + b_rel) V for queries at key indices first, first+1, … of their segment (each
   * sees the keys up to its own).
   */
  private segment(
    q: tf.Tensor3D,
    k: tf.Tensor3D,
    v: tf.Tensor3D,
    at: { first: number; queryPositions: number[]; keyPositions: number[] },
    positional?: PositionalEncoding,
  ): tf.Tensor3D {
    const [tq, tk] = [q.shape[1], k.shape[1]];
    const visible = new Float32Array(tq * tk);
    const seen = new Float32Array(tq);
    for (let i = 0; i < tq; i++) {
      for (let j = 0; j <= at.first + i; j++) visible[i * tk + j] = 1;
      seen[i] = at.first + i + 1;
    }
    const mask = tf.tensor2d(visible, [tq, tk]);
    const scores = tf.matMul(q, k, false, true); // [b, tq, tk]
    const bias = positionalBias(
      positional,
      at.queryPositions,
      at.keyPositions,
      1,
      tf.expandDims(q, 1) as tf.Tensor4D,
    );
    const withBias = (s: tf.Tensor) => (bias ? tf.add(s, tf.reshape(bias, [-1, tq, tk])) : s);
    let weights: tf.Tensor;
    if (this.config.attention === 'laplace') {
      const tau = tf.tensor2d(seen, [tq, 1]);
      weights = tf.mul(laplace(withBias(tf.div(scores, tau))), mask);
    } else {
      const logits = withBias(tf.div(scores, Math.sqrt(this.sizes.z)));
      weights = tf.softmax(tf.add(logits, tf.mul(tf.sub(1, mask), -1e9)));
    }
    return tf.matMul(weights, v) as tf.Tensor3D;
  }
}

/** z, v and h of a config (defaults ⌈dModel/4⌉, 2·dModel, 16). */
function megaSizes(c: MegaConfig): { z: number; v: number; h: number } {
  return { z: c.zDim ?? Math.ceil(c.dModel / 4), v: c.vDim ?? 2 * c.dModel, h: c.emaDim ?? 16 };
}

/** EMA (4·d·h), Z, V, γ, φ, W_h (with biases), U_h, κ and μ. */
function estimateMega(c: MegaConfig) {
  const d = c.dModel;
  const { z, v, h } = megaSizes(c);
  const linear = (i: number, o: number) => i * o + o;
  return estimateOf(4 * d * h + linear(d, z) + 4 * z + 2 * linear(d, v) + 2 * linear(d, d) + v * d);
}

register('mega', (c, o) => new Mega(c, o), megaSchema, {
  category: 'mixer',
  estimate: estimateMega,
  info: {
    paper: 'Ma et al. 2023, Mega: Moving Average Equipped Gated Attention',
    equation:
      'eqs. 2-3 (multi-dimensional damped EMA), sec. 3.3 (shared Z, Q/K by scale and offset, softmax or laplace attention, reset and update gates), sec. 3.5 (Mega-chunk)',
    summary:
      'damped EMA then single-head gated attention; Mega-chunk attends within chunks for linear cost; EMA state + chunk cache decoding',
    example: { type: 'mega', dModel: 8, zDim: 4, vDim: 8, emaDim: 2, chunkSize: 4 },
  },
});
