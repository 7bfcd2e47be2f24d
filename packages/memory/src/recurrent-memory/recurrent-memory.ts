import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  withCustomGradient,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type PositionalEncoding,
  type TokenMixer,
} from '@attnkit/core';
import {
  ProjectedAttention,
  checkMixerInput,
  headLayout,
  inputPositions,
  projectedParameters,
  scaledDotProductAttention,
} from '@attnkit/attention';
import { RecurrentMemoryState } from './state';

const positive = z.number().int().positive();

/** 'recurrent-memory': segment recurrence through M read/write memory slots (RMT, per layer). */
export const recurrentMemorySchema = z.strictObject({
  type: z.literal('recurrent-memory'),
  dModel: positive,
  numHeads: positive,
  numKvHeads: positive.optional(),
  headDim: positive.optional(),
  bias: z.boolean().optional(),
  qkNorm: z.enum(['rms', 'layer', 'l2']).optional(),
  /** Tokens per segment: attention is causal within a segment, memory carries across them. */
  segmentLength: positive,
  /** Memory slots M, read as keys/values by every segment and rewritten after it. */
  memorySlots: positive,
  /** Truncated BPTT: stop the memory's gradient every this many segments; none stopped when absent. */
  bpttSegments: positive.optional(),
});
export type RecurrentMemoryConfig = z.input<typeof recurrentMemorySchema>;
type Parsed = z.output<typeof recurrentMemorySchema>;

/** x with no gradient flowing back into it (truncated BPTT). */
const stopGradient = withCustomGradient<[tf.Tensor]>((x) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
}));

/** The per-segment tensors shared by the read and the write: the memory's and the segment's. */
interface SegmentKeys {
  memory: { keys: tf.Tensor4D; values: tf.Tensor4D };
  /** The segment's keys before rotation (the write is content-based) and rotated (the read). */
  raw: tf.Tensor4D;
  rotated: tf.Tensor4D;
  values: tf.Tensor4D;
}

/**
 * Recurrent memory (Bulatov et al. 2022, "Recurrent Memory Transformer", sec. 3: a segment is
 * processed with memory tokens, H̃_τ = [H_mem_τ ∘ H_τ ∘ H_mem_τ], and the write tokens' output
 * becomes the next segment's memory, H_mem_τ+1 := H_write_τ), as one mixer per layer in the
 * manner of Kashyap 2025 ("Recurrent Memory-Augmented Transformers with Chunked Attention"):
 * chunked (segment-local) causal attention plus a memory read, and a gated memory update.
 *
 * Per segment τ with memory m_τ [M, dModel] and inputs X_τ [S, dModel]:
 *   read:  Y_τ = o(Attn(q(X_τ), [k(m_τ) | k(X_τ)], [v(m_τ) | v(X_τ)]))  (causal within X_τ)
 *   write: U_τ = o(Attn(q(m_τ), [k(m_τ) | k(X_τ)], [v(m_τ) | v(X_τ)]))  (all of X_τ)
 *          g = σ(W_g [m_τ, U_τ] + b_g),  m_τ+1 = m_τ + g ⊙ (U_τ − m_τ)     (Kashyap's gated update)
 * with m_0 learned. The write runs only when a segment is complete, in the full forward and in
 * decoding alike, so cached == full. Training backpropagates through every boundary of the
 * sequence, or, with `bpttSegments` K, within blocks of K segments (the memory entering every
 * K-th segment is detached: truncated BPTT). Rotary
 * turns the segment's queries and keys for the read; memory keys and the write stay unpositioned.
 */
export class RecurrentMemory extends ProjectedAttention<Parsed> implements TokenMixer {
  readonly memory: tf.Variable;
  readonly gate: Linear;

  constructor(config: RecurrentMemoryConfig, options: ModuleOptions = {}) {
    const c = parseConfig('recurrent-memory', recurrentMemorySchema, config);
    super(c, options, headLayout(c));
    const shape = [c.memorySlots, c.dModel];
    this.memory = this.addParameter(
      'memory',
      initTensor({ name: 'normal', std: 1 }, shape, this.rng),
    );
    const gate = new Linear({ inFeatures: 2 * c.dModel, outFeatures: c.dModel }, { rng: this.rng });
    this.gate = this.addModule('gate', gate);
  }

  /** Causal only, constant state; rotary only; no masks, weights map, head control or prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'only',
      stateGrowth: 'constant',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      headControl: false,
      keyValuePrefix: false,
      sharedKeyValues: false,
    };
  }

  initState(_batch: number): RecurrentMemoryState {
    return new RecurrentMemoryState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'recurrent-memory';
    const { dModel, segmentLength: size, bpttSegments } = this.config;
    const state = checkMixerInput(
      block,
      x,
      dModel,
      context,
      RecurrentMemoryState,
      this.capabilities,
    );
    const [batch, time] = x.shape;
    const positions = inputPositions(block, context, time, state?.length ?? 0);
    const positional = context.positional;
    // Segments written before this call: the global index of the first one here.
    const done = state ? Math.floor(state.length / size) : 0;
    const result = tf.tidy(() => {
      const partial = state?.partial;
      const all = partial ? (tf.concat([partial, x], 1) as tf.Tensor3D) : x;
      const allPositions = [...(partial ? state.positions : []), ...positions];
      const old = partial?.shape[1] ?? 0;
      const sizes: number[] = [];
      for (let at = 0; at < all.shape[1]; at += size) sizes.push(Math.min(size, all.shape[1] - at));
      const segments = sizes.length > 1 ? (tf.split(all, sizes, 1) as tf.Tensor3D[]) : [all];
      let memory =
        state?.memory ?? (tf.tile(tf.expandDims(this.memory, 0), [batch, 1, 1]) as tf.Tensor3D);
      const outputs: tf.Tensor3D[] = [];
      segments.forEach((segment, i) => {
        const start = i * size;
        const index = done + i;
        // Truncated BPTT: the memory entering every bpttSegments-th segment carries no gradient.
        if (bpttSegments !== undefined && i > 0 && index % bpttSegments === 0) {
          memory = stopGradient(memory) as tf.Tensor3D;
        }
        const segPositions = allPositions.slice(start, start + segment.shape[1]);
        const keys = this.segmentKeys(segment, memory, segPositions, positional);
        // Only the new tokens ask: the partial segment's were answered by earlier calls.
        const skip = Math.max(0, old - start);
        outputs.push(this.read(segment, keys, segPositions, skip, positional));
        if (segment.shape[1] === size) memory = this.write(memory, keys);
      });
      const output = (outputs.length > 1 ? tf.concat(outputs, 1) : outputs[0]!) as tf.Tensor3D;
      const last = segments[segments.length - 1]!;
      // The pending tokens, kept by the state: a copy, since `last` may be the caller's x.
      const rest = state && last.shape[1] < size ? tf.clone(last) : undefined;
      return { output, memory, rest };
    });
    const { output, memory, rest } = result;
    if (state) {
      const kept = rest ? allPositionsTail(state.positions, positions, rest.shape[1]) : [];
      state.update(memory, rest, kept, time);
    } else tf.dispose([memory, ...(rest ? [rest] : [])]);
    return output;
  }

  /** The memory's keys/values and the segment's keys (raw and rotated) and values. */
  private segmentKeys(
    segment: tf.Tensor3D,
    memory: tf.Tensor3D,
    positions: number[],
    positional: PositionalEncoding | undefined,
  ): SegmentKeys {
    const mem = this.projectKeysValues(memory, [], undefined);
    const own = this.projectKeysValues(segment, positions, undefined);
    const rotated = positional?.rotate
      ? positional.rotate(own.keys, tf.tensor1d(positions, 'int32'))
      : own.keys;
    return {
      memory: { keys: mem.keys, values: mem.values },
      raw: own.keys,
      rotated,
      values: own.values,
    };
  }

  /** Y = o(Attn(q(X), [k(m) | k(X)], [v(m) | v(X)])), causal within the segment, rows >= skip. */
  private read(
    segment: tf.Tensor3D,
    keys: SegmentKeys,
    positions: number[],
    skip: number,
    positional: PositionalEncoding | undefined,
  ): tf.Tensor3D {
    const asking =
      skip > 0
        ? (tf.split(segment, [skip, segment.shape[1] - skip], 1)[1] as tf.Tensor3D)
        : segment;
    const queryPositions = positions.slice(skip);
    const q = this.projectQueries(asking, queryPositions, positional);
    const { output } = scaledDotProductAttention(q, keys.rotated, keys.values, {
      scale: (positional?.logitScale ?? 1) / Math.sqrt(this.headDim),
      causal: true,
      queryPositions,
      keyPositions: positions,
      prefix: keys.memory,
    });
    return this.mergeAndProject(output);
  }

  /** U = o(Attn(q(m), [k(m) | k(X)], [v(m) | v(X)])); m' = m + σ(W_g [m, U] + b) ⊙ (U − m). */
  private write(memory: tf.Tensor3D, keys: SegmentKeys): tf.Tensor3D {
    const q = this.projectQueries(memory, [], undefined);
    const { output } = scaledDotProductAttention(q, keys.raw, keys.values, {
      scale: 1 / Math.sqrt(this.headDim),
      prefix: keys.memory,
    });
    const update = this.mergeAndProject(output);
    const g = tf.sigmoid(this.gate.forward(tf.concat([memory, update], 2)));
    return tf.add(memory, tf.mul(g, tf.sub(update, memory))) as tf.Tensor3D;
  }
}

/** The positions of the last `n` tokens of [earlier partial, this call]. */
function allPositionsTail(earlier: readonly number[], now: number[], n: number): number[] {
  const all = [...earlier, ...now];
  return all.slice(all.length - n);
}

/** q/k/v/o, the learned initial memory M·dModel and the gate's 2·dModel·dModel + dModel. */
function estimateRecurrentMemory(c: Parsed) {
  const d = c.dModel;
  return estimateOf(projectedParameters(c) + c.memorySlots * d + 2 * d * d + d);
}

register(
  'recurrent-memory',
  (c, o) => new RecurrentMemory(c as RecurrentMemoryConfig, o),
  recurrentMemorySchema,
  {
    category: 'mixer',
    estimate: estimateRecurrentMemory,
    info: {
      paper:
        'Bulatov et al. 2022, Recurrent Memory Transformer; Kashyap 2025, Recurrent Memory-Augmented Transformers with Chunked Attention',
      equation:
        'RMT sec. 3: [H_mem ∘ H ∘ H_mem] per segment, H_mem_τ+1 := H_write_τ; per layer: segment-causal read of [memory | segment], gated write m + σ(W_g[m, U])⊙(U − m)',
      summary:
        'segment recurrence: each segment attends causally within itself and to M memory slots, which the slots then rewrite by attending the segment (gated), a constant-size state',
      example: {
        type: 'recurrent-memory',
        dModel: 8,
        numHeads: 2,
        segmentLength: 2,
        memorySlots: 2,
      },
    },
  },
);
