import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  SOFTMAX_CAPABILITIES,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { scaledDotProductAttention } from '../ops/sdpa';
import { gatheredAttention, selectionMask } from '../ops/topk-select';
import { uniform } from '../recurrent/common';
import { checkMixerInput, inputPositions, reportWeights } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';
import { reportSelection } from './probe';

/*
 * Dynamic hierarchical sparse attention (Xiong et al. 2025, "Long-Context Modeling with Dynamic
 * Hierarchical Sparse Attention for On-Device LLMs", DHSA). We could read the abstract and
 * third-party summaries of the method, not the paper's equations, so the method is written from
 * those, with our choices stated:
 *  1. Dynamic chunking: a boundary predictor (the paper's is an encoder of the left and right
 *     context, a fusion of [l, r, l − r, l ⊙ r, cos(l, r)] and an MLP classifier; here its
 *     simplest form: l = mean of the `window` keys before token i, r = k_i — the right context
 *     is the token itself so that chunking stays causal — and a one-hidden-layer ReLU MLP; keys
 *     averaged over heads). Token i opens a chunk when the logit is > 0 or the open chunk holds
 *     `maxChunkSize` tokens. Like the paper's (trained offline on boundary labels), the
 *     predictor's weights are non-trainable buffers: load trained ones.
 *  2. Chunk representations by length-normalised pooling: K̄_c = √|C| · mean_{j∈C} k_j, and for
 *     query i, Q̄_i = √n · mean of the n queries of its chunk up to i (causal).
 *  3. Chunk similarity upsampled to tokens: S_ij = Q̄_i · K̄_{c(j)} for keys of earlier chunks.
 *  4. Top-k per query (N_b = `topK`): the keys of its own chunk up to i always (our choice, so
 *     maxChunkSize ≤ topK), then earlier keys by S_ij, ties to the lower index; exact softmax
 *     attention over the selected keys only (gathered).
 * The selection is data (no gradient). Causal only; decoding recomputes it from a cache of every
 * key, value and query, so cached == full.
 */

const positive = z.number().int().positive();

export const dhsaSchema = z.strictObject({
  type: z.literal('dhsa'),
  dModel: positive,
  numHeads: positive,
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  /** N_b: keys each query attends to. */
  topK: positive,
  /** Longest chunk (≤ topK): a boundary is forced when the open chunk is this long. */
  maxChunkSize: positive,
  /** Keys averaged into the boundary predictor's left context (default 4). */
  window: positive.optional(),
  /** Hidden width of the boundary MLP (default 16). */
  boundaryHidden: positive.optional(),
  /** 'gather' (default): only the selected keys; 'dense': the same selection as a mask on full attention. */
  form: z.enum(['gather', 'dense']).optional(),
});
export type DhsaConfig = z.infer<typeof dhsaSchema>;

/** The KV cache plus every query so far (the open chunk's query representation needs them). */
export class DhsaState extends KVCache {
  get queries(): tf.Tensor4D | null {
    return this.tensor<tf.Tensor4D>('queries') ?? null;
  }

  /** Appends q [b, h, t, d]; returns every query so far. */
  appendQueries(q: tf.Tensor4D): tf.Tensor4D {
    const old = this.queries;
    this.setTensor('queries', old ? tf.concat([old, q], 2) : tf.clone(q));
    return this.queries!;
  }
}

function boundaryWidths(c: DhsaConfig): { features: number; hidden: number } {
  const { headDim } = headLayout(c);
  return { features: 4 * headDim + 1, hidden: c.boundaryHidden ?? 16 };
}

export class Dhsa extends ProjectedAttention<DhsaConfig> implements TokenMixer {
  /** The boundary MLP: [4·headDim + 1, hidden], [hidden], [hidden, 1], [1] (non-trainable). */
  readonly boundaryW1: tf.Variable;
  readonly boundaryB1: tf.Variable;
  readonly boundaryW2: tf.Variable;
  readonly boundaryB2: tf.Variable;

  constructor(config: DhsaConfig, options: ModuleOptions = {}) {
    const c = parseConfig('dhsa', dhsaSchema, config);
    if (c.maxChunkSize > c.topK) {
      throw new ConfigError(
        c.type,
        '$.maxChunkSize',
        `at most topK=${c.topK}`,
        `${c.maxChunkSize}`,
      );
    }
    super(c, options);
    const { features, hidden } = boundaryWidths(c);
    const add = (name: string, init: tf.Tensor) => this.addParameter(name, init, false);
    const [b1, b2] = [1 / Math.sqrt(features), 1 / Math.sqrt(hidden)]; // PyTorch's Linear default
    this.boundaryW1 = add('boundaryW1', uniform(this.rng, [features, hidden], b1));
    this.boundaryB1 = add('boundaryB1', uniform(this.rng, [hidden], b1));
    this.boundaryW2 = add('boundaryW2', uniform(this.rng, [hidden, 1], b2));
    this.boundaryB2 = add('boundaryB2', uniform(this.rng, [1], b2));
  }

  /** Causal only, decodes (linear state); no positions, masks, segments, head control or prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: 'only',
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'selected',
      stateGrowth: 'linear',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(): DhsaState {
    return new DhsaState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const c = this.config;
    const state = checkMixerInput(c.type, x, c.dModel, context, DhsaState, this.capabilities);
    const positions = inputPositions(c.type, context, x.shape[1], state ? state.length : 0);
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, positions, undefined, state);
      const queries = state ? state.appendQueries(q) : q;
      const selected = this.select(queries, keys, q.shape[2]);
      reportSelection(c.type, context, 'selected', selected);
      const scale = 1 / Math.sqrt(this.headDim);
      let heads: tf.Tensor4D;
      if (c.form === 'dense') {
        heads = scaledDotProductAttention(q, keys, values, {
          mask: selectionMask(selected, keys.shape[2]),
          scale,
        }).output;
      } else {
        const { output, weights } = gatheredAttention(q, keys, values, selected, { scale });
        if (context.attentionHook) reportWeights(c.type, context, weights, selected);
        heads = output;
      }
      return this.mergeAndProject(heads);
    });
  }

  /**
   * Chunk ids of every token [b][T] from the boundary predictor over keys [b, h, T, d] (the
   * mean over heads); token 0 opens chunk 0.
   */
  chunkIds(keys: tf.Tensor4D): Int32Array[] {
    const { maxChunkSize } = this.config;
    const w = this.config.window ?? 4;
    const [b, , t, d] = keys.shape;
    const logits = tf.tidy(() => {
      const k = tf.mean(keys, 1); // [b, T, d]
      // Left context: mean of the `window` keys before each token (zeros before token 1).
      const padded = tf.pad(k, [
        [0, 0],
        [w, 0],
        [0, 0],
      ]);
      const sums = tf.addN(
        Array.from({ length: w }, (_, s) => tf.slice(padded, [0, s, 0], [-1, t, -1])),
      );
      const counts = tf.reshape(
        tf.tensor1d(Array.from({ length: t }, (_, i) => Math.max(1, Math.min(w, i)))),
        [1, t, 1],
      );
      const l = tf.div(sums, counts);
      const cos = tf.div(
        tf.sum(tf.mul(l, k), 2, true),
        tf.add(tf.mul(tf.norm(l, 2, 2, true), tf.norm(k, 2, 2, true)), 1e-6),
      );
      const features = tf.reshape(tf.concat([l, k, tf.sub(l, k), tf.mul(l, k), cos], 2), [
        b * t,
        4 * d + 1,
      ]);
      const hidden = tf.relu(tf.add(tf.matMul(features, this.boundaryW1), this.boundaryB1));
      return tf.add(tf.matMul(hidden, this.boundaryW2), this.boundaryB2);
    });
    const z = logits.dataSync();
    logits.dispose();
    return Array.from({ length: b }, (_, s) => {
      const ids = new Int32Array(t);
      let id = 0;
      let open = 0;
      for (let i = 0; i < t; i++) {
        if (i > 0 && (z[s * t + i]! > 0 || open === maxChunkSize)) {
          id++;
          open = 0;
        }
        ids[i] = id;
        open++;
      }
      return ids;
    });
  }

  /**
   * The selected keys of the last `tq` queries, int32 [b, h, tq, topK] (-1: empty slot), from
   * every query [b, h, T, d] and key [b, h, T, d] so far. Computed on the host: data, no gradient.
   */
  select(queries: tf.Tensor4D, keys: tf.Tensor4D, tq: number): tf.Tensor4D {
    const { topK } = this.config;
    const [b, h, t, d] = keys.shape;
    const ids = this.chunkIds(keys);
    const qs = queries.dataSync();
    const ks = keys.dataSync();
    const out = new Int32Array(b * h * tq * topK).fill(-1);
    for (let s = 0; s < b; s++) {
      const id = ids[s]!;
      const chunks = id[t - 1]! + 1;
      const starts = new Int32Array(chunks + 1);
      for (let i = t - 1; i >= 0; i--) starts[id[i]!] = i;
      starts[chunks] = t;
      for (let head = 0; head < h; head++) {
        const base = (s * h + head) * t * d;
        // K̄_c = √|C| · mean of the chunk's keys = (sum) / √|C|.
        const kbar = new Float64Array(chunks * d);
        for (let i = 0; i < t; i++)
          for (let e = 0; e < d; e++) kbar[id[i]! * d + e] += ks[base + i * d + e]!;
        for (let ch = 0; ch < chunks; ch++) {
          const norm = Math.sqrt(starts[ch + 1]! - starts[ch]!);
          for (let e = 0; e < d; e++) kbar[ch * d + e] /= norm;
        }
        const qsum = new Float64Array(d);
        for (let i = 0; i < t; i++) {
          const own = id[i]!;
          if (i === starts[own]) qsum.fill(0);
          for (let e = 0; e < d; e++) qsum[e] += qs[base + i * d + e]!;
          const row = i - (t - tq);
          if (row < 0) continue;
          const n = i - starts[own]! + 1;
          const at = ((s * h + head) * tq + row) * topK;
          let slot = 0;
          for (let j = starts[own]!; j <= i; j++) out[at + slot++] = j; // own chunk, forced
          // Earlier chunks by Q̄_i · K̄_c (√n · mean = sum / √n), best first, ties to the lower index.
          const order = Array.from({ length: own }, (_, ch) => {
            let dot = 0;
            for (let e = 0; e < d; e++) dot += qsum[e]! * kbar[ch * d + e]!;
            return { ch, score: dot / Math.sqrt(n) };
          }).sort((u, v) => v.score - u.score || u.ch - v.ch);
          for (const { ch } of order) {
            for (let j = starts[ch]!; j < starts[ch + 1]! && slot < topK; j++) out[at + slot++] = j;
            if (slot === topK) break;
          }
        }
      }
    }
    return tf.tensor4d(out, [b, h, tq, topK], 'int32');
  }
}

register('dhsa', (c: DhsaConfig, o: ModuleOptions) => new Dhsa(c, o), dhsaSchema, {
  category: 'mixer',
  estimate: (c: DhsaConfig) => {
    const { features, hidden } = boundaryWidths(c);
    return estimateOf(projectedParameters(c) + features * hidden + 2 * hidden + 1);
  },
  info: {
    paper:
      'Xiong et al. 2025, Long-Context Modeling with Dynamic Hierarchical Sparse Attention for On-Device LLMs',
    equation:
      'K̄_c = √|C|·mean_{j∈C} k_j, S_ij = Q̄_{c(i)}·K̄_{c(j)}, o_i = softmax(q_i K[I_i]ᵀ/√d) V[I_i], I_i = top-N_b of S_i·',
    summary:
      'Chunks the sequence at predicted boundaries, scores chunk pairs by length-normalised pooled queries and keys, upsamples to tokens and attends to each query’s top-k keys.',
    example: { type: 'dhsa', dModel: 8, numHeads: 2, topK: 3, maxChunkSize: 2, window: 2 },
  },
});
