import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  DEFAULT_MAX_BYTES,
  ShapeError,
  formatShape,
  SOFTMAX_CAPABILITIES,
  estimateOf,
  formatBytes,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type PositionalEncoding,
  type TokenMixer,
} from '@attnkit/core';
import {
  ProjectedAttention,
  checkMixerInput,
  inputPositions,
  mergeAttention,
  projectedParameters,
  scaledDotProductAttention,
} from '@attnkit/attention';
import { knnMemorySchema, retrievalAttentionSchema, type RetrievalMemoryConfig } from './config';
import { IvfIndex } from './ivf';
import { ExactIndex, type MemoryIndex } from './memory-index';
import { gatedCombine, retrievedAttention } from './retrieved-attention';
import { RetrievalMemoryState } from './state';
import { KnnStore } from './store';

type Resolved = RetrievalMemoryConfig & {
  combine: 'gate' | 'merge';
  index: 'exact' | 'ivf';
  xlCache: boolean;
};

/**
 * kNN-augmented attention (Wu et al. 2022, "Memorizing Transformers", sec. 3.2): each query
 * attends causally to its local context (a Transformer-XL cache of the previous segment with a
 * sliding window of `segmentLength`, as in the paper, sec. 3; or, with `xlCache: false`, its own
 * segment only) and to its top-k (key, value) pairs retrieved from a memory of earlier
 * segments; a learned per-head gate mixes the two,
 * V_a = V_m ⊙ g + V_c ⊙ (1 - g), g = σ(b_g). Memory is written at the end of every segment,
 * without gradient, and bounded by `capacity` per sequence and head (FIFO, as in the paper,
 * or LRU). `retrieval-attention` (Liu et al. 2024, "RetrievalAttention", sec. 3) is the same
 * mixer with an IVF index and one softmax over local and retrieved keys (`combine: 'merge'`,
 * by log-sum-exp); its static tokens are the current segment (our choice; no XL cache by
 * default, so no key is counted twice in the one softmax). Memory keys are
 * stored and searched unrotated: a rotary encoding acts on local attention only (the paper
 * gives retrieved memories no position either). Before the first segment ends the memory is
 * empty and the output is local attention alone.
 */
export class RetrievalMemoryAttention extends ProjectedAttention<Resolved> implements TokenMixer {
  readonly gate: tf.Variable | null;

  constructor(config: RetrievalMemoryConfig, options: ModuleOptions = {}) {
    const ivf = config.type === 'retrieval-attention';
    const schema = ivf ? retrievalAttentionSchema : knnMemorySchema;
    const parsed = parseConfig(config.type, schema as typeof knnMemorySchema, config);
    super(
      {
        ...parsed,
        combine: parsed.combine ?? (ivf ? 'merge' : 'gate'),
        index: parsed.index ?? (ivf ? 'ivf' : 'exact'),
        xlCache: parsed.xlCache ?? !ivf,
      } as Resolved,
      options,
    );
    this.gate =
      this.config.combine === 'gate'
        ? this.addParameter('gate', tf.zeros([config.numHeads]))
        : null;
  }

  /** Causal only, bounded state, rotary on local attention; no masks, weights map or prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'constant',
      keyValuePrefix: false,
    };
  }

  /** A fresh state: an empty segment cache and one memory per sequence and head. */
  initState(batch: number): RetrievalMemoryState {
    const { type, numHeads: h, capacity, maxMemoryBytes = DEFAULT_MAX_BYTES } = this.config;
    const bytes = batch * h * KnnStore.bytesFor(capacity, this.headDim);
    if (bytes > maxMemoryBytes) {
      const want = `memories of at most ${formatBytes(maxMemoryBytes)} (maxMemoryBytes)`;
      const got = `${batch}×${h}×${capacity} entries: ${formatBytes(bytes)}`;
      throw new ConfigError(type, 'capacity', want, got);
    }
    return new RetrievalMemoryState(() => this.makeMemory(), batch, h);
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { type, numHeads: h, segmentLength: L } = this.config;
    const caps = this.capabilities;
    const state = checkMixerInput(type, x, this.config.dModel, context, RetrievalMemoryState, caps);
    const [b, t] = x.shape;
    if (b === 0 || t === 0) {
      throw new ShapeError(type, 'x', 'at least one sequence of one token', formatShape(x.shape));
    }
    if (state && state.all.length !== b * h) {
      const want = `batch ${state.all.length / h} (the state's)`;
      throw new ShapeError(type, 'x', want, `shape ${formatShape(x.shape)}`);
    }
    const positions = inputPositions(type, context, t, state?.length ?? 0);
    checkConsecutive(type, positions, state?.positions);
    // Without a state, a memory for this call only (what a fresh state would hold).
    const memory = state ?? this.initState(b);
    try {
      const out = tf.tidy(() => {
        const heads = (y: tf.Tensor, w: number) =>
          tf.transpose(tf.reshape(y, [b, t, h, w]), [0, 2, 1, 3]) as tf.Tensor4D;
        let q = heads(this.q.forward(x), this.headDim);
        let k = heads(this.k.forward(x), this.headDim);
        if (this.qNorm) q = this.qNorm.forward(q) as tf.Tensor4D;
        if (this.kNorm) k = this.kNorm.forward(k) as tf.Tensor4D;
        const v = heads(this.v.forward(x), this.layout.valueDim);
        const sizes = segmentPieces(positions, L);
        // One piece: no split (tfjs's split gradient of a single piece concats nothing).
        const [qs, ks, vs] = [q, k, v].map((y) =>
          sizes.length === 1 ? [y] : (tf.split(y, sizes, 2) as tf.Tensor4D[]),
        );
        let carry = memory.local;
        let carryPositions = memory.positions;
        const outs: tf.Tensor4D[] = [];
        let at = 0;
        sizes.forEach((n, i) => {
          const pos = positions.slice(at, (at += n));
          const keys = carry ? (tf.concat([carry.keys, ks[i]!], 2) as tf.Tensor4D) : ks[i]!;
          const values = carry ? (tf.concat([carry.values, vs[i]!], 2) as tf.Tensor4D) : vs[i]!;
          const keyPositions = [...carryPositions, ...pos];
          outs.push(
            this.attend(qs[i]!, keys, values, pos, keyPositions, memory, context.positional),
          );
          [carry, carryPositions] = [{ keys, values }, keyPositions];
          if ((pos[n - 1]! + 1) % L === 0) {
            // The segment ends: it goes to memory, and stays as the XL cache when there is one.
            const segment = Math.floor(pos[0]! / L);
            const m = keyPositions.filter((p) => Math.floor(p / L) === segment).length;
            const [, segKeys] = tf.split(keys, [keys.shape[2] - m, m], 2) as tf.Tensor4D[];
            const [, segValues] = tf.split(values, [keys.shape[2] - m, m], 2) as tf.Tensor4D[];
            this.write(memory, segKeys!, segValues!);
            [carry, carryPositions] = this.config.xlCache
              ? [{ keys: segKeys!, values: segValues! }, keyPositions.slice(-m)]
              : [undefined, []];
          }
        });
        if (state) {
          state.setLocal(carry?.keys ?? null, carry?.values ?? null, carryPositions);
          state.advance(t);
        }
        const merged = outs.length === 1 ? outs[0]! : (tf.concat(outs, 2) as tf.Tensor4D);
        return this.mergeAndProject(merged, context.heads);
      });
      return out;
    } finally {
      if (!state) memory.dispose();
    }
  }

  /** One piece of a segment: local causal attention, memory attention, combined (sec. 3.2). */
  private attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    queryPositions: number[],
    keyPositions: number[],
    memory: RetrievalMemoryState,
    positional: PositionalEncoding | undefined,
  ): tf.Tensor4D {
    const rotate = (y: tf.Tensor4D, p: number[]) =>
      positional?.rotate ? positional.rotate(y, tf.tensor1d(p, 'int32')) : y;
    const merge = this.config.combine === 'merge';
    const local = scaledDotProductAttention(
      rotate(q, queryPositions),
      rotate(keys, keyPositions),
      values,
      {
        causal: true,
        window: this.config.xlCache ? this.config.segmentLength : undefined,
        queryPositions,
        keyPositions,
        returnLogSumExp: merge,
      },
    );
    if (memory.all[0]!.store.size === 0) return local.output;
    const retrieved = this.retrieve(q, memory);
    const part = retrievedAttention(q, retrieved.keys, retrieved.values);
    if (merge) return mergeAttention([local as Required<typeof local>, part]).output;
    return gatedCombine(part.output, local.output, this.gate! as tf.Tensor1D);
  }

  /** The top-k memories of every query (cpu search on the query's values, no gradient). */
  private retrieve(q: tf.Tensor4D, memory: RetrievalMemoryState) {
    const [b, h, t, d] = q.shape;
    const dv = this.layout.valueDim;
    const kk = Math.min(this.config.topK, memory.all[0]!.store.size);
    const data = q.dataSync() as Float32Array;
    const keys = new Float32Array(b * h * t * kk * d);
    const values = new Float32Array(b * h * t * kk * dv);
    for (let row = 0; row < b * h; row++) {
      const m = memory.all[row]!;
      for (let i = 0; i < t; i++) {
        const at = row * t + i;
        const found = m.search(data.subarray(at * d, (at + 1) * d), kk);
        m.store.gather(found.slots, keys, values, at * kk);
      }
    }
    return {
      keys: tf.tensor5d(keys, [b, h, t, kk, d]),
      values: tf.tensor5d(values, [b, h, t, kk, dv]),
    };
  }

  /** Writes a finished segment's keys and values [b, h, n, d] into the memories (no gradient). */
  private write(memory: RetrievalMemoryState, keys: tf.Tensor4D, values: tf.Tensor4D): void {
    const [b, h, n, d] = keys.shape;
    const dv = values.shape[3];
    const [kd, vd] = [keys.dataSync() as Float32Array, values.dataSync() as Float32Array];
    for (let row = 0; row < b * h; row++) {
      memory.all[row]!.add(
        kd.subarray(row * n * d, (row + 1) * n * d),
        vd.subarray(row * n * dv, (row + 1) * n * dv),
      );
    }
  }

  private makeMemory(): MemoryIndex {
    const { capacity, eviction, index, nlist, nprobe } = this.config;
    const store = new KnnStore({
      dim: this.headDim,
      valueDim: this.layout.valueDim,
      capacity,
      eviction,
    });
    return index === 'ivf'
      ? new IvfIndex(store, { nlist: nlist!, nprobe: nprobe! })
      : new ExactIndex(store);
  }
}

/** Memory is written at segment ends, so positions must run on without gaps (after the cache). */
function checkConsecutive(block: string, positions: number[], cached: number[] = []): void {
  const all = [...cached.slice(-1), ...positions];
  const gap = all.findIndex((p, i) => i > 0 && p !== all[i - 1]! + 1);
  if (gap > 0) {
    const want = `consecutive positions (continuing the cache at ${all[0]})`;
    throw new ConfigError(block, 'context.positions', want, `${all[gap - 1]} then ${all[gap]}`);
  }
}

/**
 * Sizes of the runs of (consecutive) positions inside one segment of length L: the pieces a
 * forward processes in order, so memory is written exactly at segment ends.
 */
export function segmentPieces(positions: readonly number[], L: number): number[] {
  const sizes: number[] = [];
  let start = 0;
  for (let i = 1; i <= positions.length; i++) {
    const p = positions[i];
    const cut = i === positions.length || Math.floor(p! / L) !== Math.floor(positions[start]! / L);
    if (cut) {
      sizes.push(i - start);
      start = i;
    }
  }
  return sizes;
}

const estimate = (c: RetrievalMemoryConfig) => {
  const gate = (c.combine ?? (c.type === 'knn-memory' ? 'gate' : 'merge')) === 'gate';
  return estimateOf(projectedParameters(c) + (gate ? c.numHeads : 0));
};
const make = (c: RetrievalMemoryConfig, o: ModuleOptions) => new RetrievalMemoryAttention(c, o);

register('knn-memory', make, knnMemorySchema, {
  category: 'mixer',
  estimate,
  info: {
    paper: 'Wu et al. 2022, Memorizing Transformers',
    equation: 'sec. 3.2 (top-k memory attention, V_a = V_m·g + V_c·(1-g), g = σ(b_g))',
    summary:
      'Local causal attention over the segment plus gated attention over the top-k (key, value) pairs retrieved by exact kNN from a bounded memory of past segments.',
    example: {
      type: 'knn-memory',
      dModel: 8,
      numHeads: 2,
      segmentLength: 4,
      topK: 2,
      capacity: 16,
    },
  },
});
register('retrieval-attention', make, retrievalAttentionSchema, {
  category: 'mixer',
  estimate,
  info: {
    paper:
      'Liu et al. 2024, RetrievalAttention: Accelerating Long-Context LLM Inference via Vector Retrieval',
    equation:
      'sec. 3 (attention over static tokens and top-k retrieved keys, combined by log-sum-exp)',
    summary:
      'One softmax over the current segment and the top-k keys found by an IVF index (k-means lists, nprobe probed) over a bounded memory of past keys and values.',
    example: {
      type: 'retrieval-attention',
      dModel: 8,
      numHeads: 2,
      segmentLength: 2,
      topK: 2,
      capacity: 16,
      nlist: 2,
      nprobe: 1,
    },
  },
});
