import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  State,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { mixerInput } from '../softmax/heads';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';
import { linearFields } from './config';

const DEFAULT_CHUNK = 64;
/** Added to masked logits: exp underflows to exactly 0, and no -Infinity reaches a gradient. */
const MASKED = -1e9;

/** 'arflow-hybrid': ARFlow's chunk-wise hybrid linear attention (Hui et al. 2025). */
export const arflowHybridSchema = z.strictObject({
  type: z.literal('arflow-hybrid'),
  dModel: linearFields.dModel,
  numHeads: linearFields.numHeads,
  headDim: linearFields.headDim,
  bias: linearFields.bias,
  /** 'chunk' (default: per chunk, the state carried) or 'parallel' (the quadratic masked form). */
  form: linearFields.form,
  /** Tokens per chunk: softmax inside, linear across (default 64; ARFlow's chunk is one image). */
  chunkSize: linearFields.chunkSize,
});
export type ArflowHybridConfig = z.input<typeof arflowHybridSchema>;

/**
 * Decoding state: S = Σ k_sᵀ v_s / √d over the completed chunks [b, h, d, dv] (constant) and the
 * keys and values of the chunk under way [b, h, < chunkSize, d] (bounded by the chunk size).
 */
export class HybridChunkState extends State {
  get kv(): tf.Tensor4D | undefined {
    return this.tensor<tf.Tensor4D>('kv');
  }

  get open(): { keys: tf.Tensor4D; values: tf.Tensor4D } | undefined {
    const keys = this.tensor<tf.Tensor4D>('keys');
    return keys && { keys, values: this.tensor<tf.Tensor4D>('values')! };
  }

  update(next: Omit<ChunkResult, 'output'>, tokens: number): void {
    this.setTensor('kv', next.kv);
    this.setTensor('keys', next.keys ?? null);
    this.setTensor('values', next.values ?? null);
    this.advance(tokens);
  }
}

interface ChunkResult {
  output: tf.Tensor4D;
  kv: tf.Tensor4D;
  keys?: tf.Tensor4D;
  values?: tf.Tensor4D;
}

/**
 * ARFlow, "Autoregressive Flow with Hybrid Linear Attention" (Hui et al. 2025, the hybrid linear
 * attention section): the sequence is cut into chunks (an image each in ARFlow); a token attends
 * by softmax to the tokens of its own chunk and by linear attention to every earlier chunk,
 * through a state carried from chunk to chunk, and the two are summed (no shared normaliser):
 *
 *   o_t = softmax(q_t K_cᵀ/√d) V_c + q_t S_{c-1},   S_c = S_{c-1} + K_cᵀ V_c / √d,
 *
 * c the chunk of t (as the authors' released code computes it: inner + cross). Two deliberate
 * departures from that code: the softmax inside a chunk is causal (ARFlow lets an image's
 * tokens see each other), so decoding one token at a time equals the full forward; and the
 * state is not decayed by ARFlow's class-conditioned gate, nor are q, k, v and the output
 * RMS-normalised and SwiGLU-gated (a mixer has no conditioning input; those are layer choices).
 * Decoding carries S and the current chunk's keys and values: state bounded by the chunk size.
 */
export class HybridChunkAttention
  extends ProjectedAttention<ArflowHybridConfig>
  implements TokenMixer
{
  constructor(config: ArflowHybridConfig, options: ModuleOptions = {}) {
    super(parseConfig('arflow-hybrid', arflowHybridSchema, config), options);
  }

  private get chunk(): number {
    return this.config.chunkSize ?? DEFAULT_CHUNK;
  }

  /** Causal only; rotary on q and k (both branches); no masks or weights map; bounded state. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'constant',
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): HybridChunkState {
    return new HybridChunkState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'arflow-hybrid';
    const caps = this.capabilities;
    const input = mixerInput(block, x, this.config.dModel, context, HybridChunkState, false, caps);
    const { state, queryPositions, time } = input;
    const [output, ...next] = tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, queryPositions, context.positional);
      if (!state && this.config.form === 'parallel') {
        return [this.mergeAndProject(parallelForm(q, keys, values, this.chunk), context.heads)];
      }
      const r = chunkForm(q, keys, values, this.chunk, state?.kv, state?.open);
      const out = this.mergeAndProject(r.output, context.heads);
      return [out, r.kv, ...(r.keys ? [r.keys, r.values!] : [])];
    });
    if (state) {
      const [kv, k, v] = next as tf.Tensor4D[];
      state.update({ kv: kv!, keys: k, values: v }, time);
    } else tf.dispose(next);
    return output as tf.Tensor3D;
  }
}

/**
 * The chunk form: the open chunk's cached keys/values go in front (their query rows are zeros
 * and dropped), the sequence is zero-padded to whole chunks (padded keys sit after every real
 * query, so the causal mask hides them), then per chunk the causal softmax inside and q S_{c-1}
 * across. S_{c-1} for every chunk at once is a strictly-lower-triangular matmul over chunks.
 */
function chunkForm(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  size: number,
  s0: tf.Tensor4D | undefined,
  open: { keys: tf.Tensor4D; values: tf.Tensor4D } | undefined,
): ChunkResult {
  const [b, h, t, d] = q.shape;
  const dv = v.shape[3];
  const p = open ? open.keys.shape[2] : 0;
  const kAll = open ? (tf.concat([open.keys, k], 2) as tf.Tensor4D) : k;
  const vAll = open ? (tf.concat([open.values, v], 2) as tf.Tensor4D) : v;
  const qAll = p > 0 ? tf.concat([tf.zeros([b, h, p, d]), q], 2) : q;
  const total = p + t;
  const n = Math.ceil(total / size);
  const pad = n * size - total;
  const chunks = (x: tf.Tensor, width: number) =>
    tf.reshape(pad > 0 ? tf.concat([x, tf.zeros([b, h, pad, width])], 2) : x, [
      b * h * n,
      size,
      width,
    ]) as tf.Tensor3D;
  const [qc, kc, vc] = [chunks(qAll, d), chunks(kAll, d), chunks(vAll, dv)];
  const scale = 1 / Math.sqrt(d);

  const scores = tf.add(tf.mul(tf.matMul(qc, kc, false, true), scale), causalBias(size));
  const inner = tf.matMul(tf.softmax(scores), vc);

  // K_cᵀ V_c / √d per chunk, as rows [n, b·h·d·dv]; before[c] = s0 + Σ_{c' < c} of them.
  const perChunk = tf.mul(tf.matMul(kc, vc, true, false), scale);
  const rows = tf.reshape(tf.transpose(tf.reshape(perChunk, [b * h, n, d * dv]), [1, 0, 2]), [
    n,
    b * h * d * dv,
  ]);
  const start = s0 ? tf.reshape(s0, [1, b * h * d * dv]) : tf.zeros([1, b * h * d * dv]);
  const before = tf.add(tf.matMul(strictlyLower(n), rows), start);
  const prior = tf.reshape(tf.transpose(tf.reshape(before, [n, b * h, d * dv]), [1, 0, 2]), [
    b * h * n,
    d,
    dv,
  ]);
  const cross = tf.matMul(qc, prior);

  const all = tf.reshape(tf.add(inner, cross), [b, h, n * size, dv]);
  const output = tf.slice(all, [0, 0, p, 0], [b, h, t, dv]) as tf.Tensor4D;

  // The state: S over the completed chunks, the open chunk's keys and values (if any).
  const full = Math.floor(total / size);
  const done = full > 0 ? tf.matMul(tf.ones([1, full]), tf.slice(rows, [0, 0], [full, -1])) : null;
  const kv = tf.reshape(done ? tf.add(start, done) : start, [b, h, d, dv]) as tf.Tensor4D;
  const rest = total - full * size;
  if (rest === 0) return { output, kv };
  const tail = (x: tf.Tensor4D) =>
    tf.slice(x, [0, 0, full * size, 0], [b, h, rest, x.shape[3]]) as tf.Tensor4D;
  return { output, kv, keys: tail(kAll), values: tail(vAll) };
}

/**
 * The quadratic form (the reference the chunk form is tested against): with A = QKᵀ/√d,
 * o = softmax(A + mask_same-chunk,causal) V + (A ⊙ 1[chunk(s) < chunk(t)]) V.
 */
function parallelForm(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, size: number): tf.Tensor4D {
  const t = q.shape[2];
  const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(q.shape[3]));
  const chunkOf = (i: number) => Math.floor(i / size);
  const same: number[] = [];
  const earlier: number[] = [];
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      same.push(chunkOf(j) === chunkOf(i) && j <= i ? 0 : MASKED);
      earlier.push(chunkOf(j) < chunkOf(i) ? 1 : 0);
    }
  }
  const inner = tf.matMul(tf.softmax(tf.add(scores, tf.tensor2d(same, [t, t]))), v);
  const cross = tf.matMul(tf.mul(scores, tf.tensor2d(earlier, [t, t])), v);
  return tf.add(inner, cross) as tf.Tensor4D;
}

/** [size, size]: 0 where s <= t, MASKED above the diagonal. */
function causalBias(size: number): tf.Tensor2D {
  const values = Array.from({ length: size * size }, (_, i) =>
    i % size <= Math.floor(i / size) ? 0 : MASKED,
  );
  return tf.tensor2d(values, [size, size]);
}

/** [n, n]: 1 where c' < c. */
function strictlyLower(n: number): tf.Tensor2D {
  const values = Array.from({ length: n * n }, (_, i) => (i % n < Math.floor(i / n) ? 1 : 0));
  return tf.tensor2d(values, [n, n]);
}

register('arflow-hybrid', (c, o) => new HybridChunkAttention(c, o), arflowHybridSchema, {
  category: 'mixer',
  estimate: (c: ArflowHybridConfig) => estimateOf(projectedParameters(c)),
  info: {
    paper: 'Hui et al. 2025, ARFlow: Autoregressive Flow with Hybrid Linear Attention',
    equation:
      'hybrid linear attention: o_t = softmax(q_t K_cᵀ/√d) V_c + q_t S_{c-1}, S_c = S_{c-1} + K_cᵀV_c/√d (softmax within a chunk, linear across, summed)',
    summary:
      'chunk-wise hybrid: causal softmax attention inside each chunk, linear attention over the earlier chunks; state bounded by the chunk size',
    example: { type: 'arflow-hybrid', dModel: 8, numHeads: 2, chunkSize: 2 },
  },
});
