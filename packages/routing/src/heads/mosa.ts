import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  type MixerContext,
  Module,
  type ModuleOptions,
  ShapeError,
  type TokenMixer,
  checkInt,
  checkRank,
  formatShape,
  type MixerCapabilities,
  checkMixerContext,
  estimateOf,
  gatherRows,
  parseConfig,
  scatterAddRows,
} from '@attnkit/core';
import { scaledDotProductAttention } from '@attnkit/attention';
import { registerWithDefaults } from '../config';
import { reportStats } from '../probe';

export const mosaSchema = z.strictObject({
  type: z.literal('mosa'),
  dModel: z.number().int().positive(),
  /** Sparse heads; each picks its own tokens. */
  numHeads: z.number().int().positive(),
  /** Width per head (h' in the paper); default dModel / numHeads. */
  headDim: z.number().int().positive().optional(),
  /** ρ: each head attends among k = ceil(T / ρ) of the T tokens (1 = all of them). */
  sparsity: z.number().positive().min(1),
  /** Every head also takes the first token, whatever its score. */
  includeFirst: z.boolean().default(false),
  causal: z.boolean().optional(),
});

export type MoSAConfig = z.input<typeof mosaSchema>;
type Parsed = z.output<typeof mosaSchema>;

/** Token selection of the latest forward. */
export interface MoSAStats {
  /** Tokens each head picked per sequence. */
  k: number;
  /** Fraction of the tokens picked by at least one head. */
  coverage: number;
}

/**
 * Mixture of Sparse Attention (Piękos, Csordás & Schmidhuber 2025, sec. 3): each head is an
 * expert-choice router over tokens. r = σ(X W_r) per head; the head takes its top-k tokens
 * I (k = ceil(T/ρ)), attends among them only, causally in their original order (mask
 * M_ij = 0 iff I_j <= I_i), scales its output by r_I, projects it with its own W_O and adds it
 * back at positions I (zero elsewhere). Cost per head O(k² + T) instead of O(T²): tokens are
 * picked with core's gatherRows and added back with scatterAddRows.
 * The choice compares every token of the sequence, so the mixer has no decoding state.
 */
export class MoSAAttention extends Module<Parsed> implements TokenMixer {
  readonly router: Linear;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly headDim: number;
  /** Statistics of the latest forward. @deprecated Read them from `context.probe`, which also names the layer. */
  lastStats: MoSAStats | null = null;

  constructor(config: MoSAConfig, options: ModuleOptions = {}) {
    checkInt('mosa', 'numHeads', config.numHeads);
    const c = parseConfig('mosa', mosaSchema, config);
    super(c, options);
    if (c.headDim === undefined && c.dModel % c.numHeads !== 0) {
      throw new ConfigError(
        'mosa',
        'numHeads',
        `a divisor of dModel=${c.dModel} (or set headDim)`,
        String(c.numHeads),
      );
    }
    this.headDim = c.headDim ?? c.dModel / c.numHeads;
    const inner = c.numHeads * this.headDim;
    const sub = { rng: this.rng };
    const linear = (inFeatures: number, outFeatures: number) =>
      new Linear({ inFeatures, outFeatures, bias: false }, sub);
    this.router = this.addModule('router', linear(c.dModel, c.numHeads));
    this.q = this.addModule('q', linear(c.dModel, inner));
    this.k = this.addModule('k', linear(c.dModel, inner));
    this.v = this.addModule('v', linear(c.dModel, inner));
    this.o = this.addModule('o', linear(inner, c.dModel));
  }

  /** Tokens each head takes from a sequence of `time` tokens. */
  /** Expert-choice over the whole sequence: no decoding, no mask (segment ids instead), no bias. */
  get capabilities(): MixerCapabilities {
    return {
      decoding: false,
      causal: 'either',
      strictlyCausal: false,
      positional: ['rotate'],
      masks: false,
      segmentIds: true,
      attentionWeights: 'full',
      stateGrowth: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  tokensPerHead(time: number): number {
    return Math.min(time, Math.ceil(time / this.config.sparsity));
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { dModel, numHeads, includeFirst } = this.config;
    checkRank('mosa', 'x', x, 3);
    if (x.shape[2] !== dModel) {
      throw new ShapeError(
        'mosa',
        'x',
        `last axis dModel=${dModel}`,
        `shape ${formatShape(x.shape)}`,
      );
    }
    for (const [field, what] of [
      ['state', 'an incremental state (expert choice needs the whole sequence)'],
      ['mask', 'a mask (use segmentIds)'],
    ] as const) {
      if (context[field] !== undefined) {
        throw new ConfigError('mosa', `context.${field}`, 'not set: mosa does not take it', what);
      }
    }
    if (context.positional?.bias) {
      throw new ConfigError(
        'mosa',
        'context.positional',
        'a rotary, embedding or no encoding',
        `'${context.positional.kind}' with a logit bias`,
      );
    }
    checkMixerContext('mosa', this.capabilities, context);
    const [batch, time] = x.shape;
    const H = numHeads;
    const d = this.headDim;
    const k = this.tokensPerHead(time);
    const causal = (this.config.causal ?? true) && (context.causal ?? true);
    const segments = context.segmentIds ? context.segmentIds.dataSync() : null;
    const positions = context.positions ? context.positions.dataSync() : null;
    if (positions && positions.length !== time) {
      throw new ShapeError('mosa', 'context.positions', `${time} positions`, `${positions.length}`);
    }

    return tf.tidy(() => {
      const scores = tf.sigmoid(this.router.forward(x)) as tf.Tensor3D; // [B, T, H]
      const chosen = selectTokens(scores.dataSync(), batch, time, H, k, includeFirst);
      this.lastStats = { k, coverage: coverage(chosen, batch, time) };
      reportStats('mosa', context, this.lastStats);
      // Row (b, h, j) of the selection takes token I_{b,h,j}: row b·T + I of x as [B·T, D].
      const tokenRows = Int32Array.from(chosen, (t, row) => Math.floor(row / (H * k)) * time + t);
      const ids = tf.tensor1d(tokenRows, 'int32');
      const picked = gatherRows(tf.reshape(x, [batch * time, dModel]) as tf.Tensor2D, ids);
      // per-head projections: [H, B·k, D] x [H, D, d]
      const perHead = tf.transpose(tf.reshape(picked, [batch, H, k, dModel]), [1, 0, 2, 3]);
      const rows = tf.reshape(perHead, [H, batch * k, dModel]);
      const project = (w: tf.Tensor) =>
        tf.transpose(
          tf.reshape(tf.matMul(rows, headWeights(w, dModel, H, d)), [H, batch, k, d]),
          [1, 0, 2, 3],
        ) as tf.Tensor4D; // [B, H, k, d]
      let q = project(this.q.weight);
      let keys = project(this.k.weight);
      const values = project(this.v.weight);
      if (context.positional?.rotate) {
        // RoPE at the tokens' original positions, one position per row
        const at = Int32Array.from(chosen, (t) => (positions ? positions[t]! : t));
        const rowPositions = tf.tensor1d(at, 'int32');
        const rotate = (t: tf.Tensor4D) =>
          tf.reshape(
            context.positional!.rotate!(
              tf.reshape(t, [1, 1, batch * H * k, d]) as tf.Tensor4D,
              rowPositions,
            ),
            [batch, H, k, d],
          ) as tf.Tensor4D;
        q = rotate(q);
        keys = rotate(keys);
      }
      const allowed = visibility(chosen, batch, H, k, causal, segments, time);
      const { output, weights } = scaledDotProductAttention(q, keys, values, {
        mask: allowed,
        scale: (context.positional?.logitScale ?? 1) / Math.sqrt(d),
        returnWeights: context.attentionHook !== undefined,
      });
      if (weights) {
        // [B,H,k,k] among the chosen tokens -> the contract's [B,H,T,T] (zero elsewhere)
        const hot = new Float32Array(batch * H * k * time);
        chosen.forEach((t, row) => (hot[row * time + t] = 1));
        const onehot = tf.tensor4d(hot, [batch, H, k, time]);
        const full = tf.matMul(tf.matMul(onehot, weights, true, false), onehot) as tf.Tensor4D;
        context.attentionHook!({ block: 'mosa', path: context.path ?? '', weights: full });
      }
      // scale by the router score of each selected token: r_I, entry (b, I, h) of scores
      const scoreRows = Int32Array.from(tokenRows, (bt, row) => bt * H + (Math.floor(row / k) % H));
      const r = tf.reshape(
        gatherRows(tf.reshape(scores, [-1, 1]) as tf.Tensor2D, tf.tensor1d(scoreRows, 'int32')),
        [batch, H, k],
      );
      const scaled = tf.mul(output, tf.expandDims(r, 3));
      // per-head output projection [H, B·k, d] x [H, d, D], then added back at positions I
      const outRows = tf.reshape(tf.transpose(scaled, [1, 0, 2, 3]), [H, batch * k, d]);
      const wo = tf.reshape(this.o.weight, [H, d, dModel]); // rows (h, i) of W_O
      const projected = tf.reshape(
        tf.transpose(tf.reshape(tf.matMul(outRows, wo), [H, batch, k, dModel]), [1, 0, 2, 3]),
        [batch * H * k, dModel],
      ) as tf.Tensor2D;
      return tf.reshape(scatterAddRows(projected, ids, batch * time), [
        batch,
        time,
        dModel,
      ]) as tf.Tensor3D;
    });
  }
}

/** [D, H·d] projection weight as [H, D, d]. */
function headWeights(w: tf.Tensor, dModel: number, heads: number, d: number): tf.Tensor3D {
  return tf.transpose(tf.reshape(w, [dModel, heads, d]), [1, 0, 2]) as tf.Tensor3D;
}

/**
 * Each head's top-k tokens per sequence, in increasing position (ties: the earlier token).
 * Returns token indices laid out [batch, heads, k].
 */
export function selectTokens(
  scores: ArrayLike<number>,
  batch: number,
  time: number,
  heads: number,
  k: number,
  includeFirst: boolean,
): Int32Array {
  const out = new Int32Array(batch * heads * k);
  const order = Array.from({ length: time }, (_, t) => t);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const score = (t: number) => scores[(b * time + t) * heads + h]!;
      const ranked = [...order].sort((a, c) => score(c) - score(a) || a - c);
      const picked = includeFirst ? [0, ...ranked.filter((t) => t !== 0)] : ranked;
      const top = picked.slice(0, k).sort((a, c) => a - c);
      out.set(top, (b * heads + h) * k);
    }
  }
  return out;
}

/** Boolean [B, H, k, k]: query i sees key j when I_j <= I_i (causal) and their segments match. */
function visibility(
  chosen: Int32Array,
  batch: number,
  heads: number,
  k: number,
  causal: boolean,
  segments: ArrayLike<number> | null,
  time: number,
): tf.Tensor4D {
  const allowed = new Uint8Array(batch * heads * k * k);
  for (let g = 0; g < batch * heads; g++) {
    const b = Math.floor(g / heads);
    for (let i = 0; i < k; i++) {
      const ti = chosen[g * k + i]!;
      for (let j = 0; j < k; j++) {
        const tj = chosen[g * k + j]!;
        const sameSegment = !segments || segments[b * time + ti] === segments[b * time + tj];
        allowed[(g * k + i) * k + j] = (!causal || tj <= ti) && sameSegment ? 1 : 0;
      }
    }
  }
  return tf.tensor4d(allowed, [batch, heads, k, k], 'bool');
}

/** Fraction of (sequence, token) pairs some head picked. */
function coverage(chosen: Int32Array, batch: number, time: number): number {
  const perBatch = chosen.length / batch;
  const seen = new Set<number>();
  chosen.forEach((t, i) => seen.add(Math.floor(i / perBatch) * time + t));
  return seen.size / (batch * time);
}

registerWithDefaults('mosa', (c, o) => new MoSAAttention(c, o), mosaSchema, {
  category: 'mixer',
  // The router [dModel, heads] and q, k, v, o over heads·headDim, without biases.
  estimate: (c) => {
    const inner = c.numHeads * (c.headDim ?? c.dModel / c.numHeads);
    return estimateOf(c.dModel * c.numHeads + 4 * c.dModel * inner);
  },
  info: {
    paper: 'Piękos, Csordás & Schmidhuber 2025, Mixture of Sparse Attention',
    equation: 'sec. 3',
    summary:
      'Each head an expert-choice router over tokens, attending among its top-k tokens only.',
    example: { type: 'mosa', dModel: 8, numHeads: 2, sparsity: 2 },
  },
});
