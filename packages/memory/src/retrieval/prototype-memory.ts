import * as tf from '@tensorflow/tfjs-core';
import {
  estimateOf,
  register,
  type KeyValuePrefix,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { MultiHeadAttention, attentionFields, projectedParameters } from '@attnkit/attention';
import { z } from 'zod';
import { kmeans, nearestRows } from './kmeans';
import { KnnStore } from './store';

const { normalizer: _softmaxOnly, ...softmaxFields } = attentionFields;

export const prototypeMemorySchema = z
  .strictObject({
    type: z.literal('prototype-memory'),
    ...softmaxFields,
    numKvHeads: z.number().int().positive().optional(),
    window: z.number().int().positive().optional(),
    numSinkTokens: z.number().int().min(1).optional(),
    /** Prototype (key, value) pairs every query attends, per key/value head. */
    numPrototypes: z.number().int().positive(),
    /** Most past (key, value) pairs the bank holds per key/value head (FIFO). */
    bankSize: z.number().int().positive(),
    /** Bank entries nearest to a key prototype whose values average into its value (default 8). */
    neighbours: z.number().int().positive().optional(),
    /** Lloyd iterations of each refresh's k-means (default 8). */
    kmeansIterations: z.number().int().min(0).optional(),
    /** Refresh the prototypes after every this many recorded training forwards (default: only by refreshPrototypes()). */
    refreshEvery: z.number().int().positive().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.numPrototypes > c.bankSize) {
      const message = `<= bankSize=${c.bankSize}`;
      ctx.addIssue({ code: 'custom', path: ['numPrototypes'], message });
    }
  });
export type PrototypeMemoryConfig = z.input<typeof prototypeMemorySchema>;

/**
 * Prototypical memory attention (Barraco et al. 2023, "With a Little Help from your own Past:
 * Prototypical Memory Networks for Image Captioning", sec. 3, eqs. 3-6): multi-head attention
 * whose keys and values are extended, for every query, by P prototype pairs that summarise keys
 * and values of past training samples: softmax(q [K; P_K + s]ᵀ/√d) [V; P_V]. Prototypes are
 * constants of the forward (no gradient), attended as a key/value prefix (unmasked, unpositioned);
 * s is a learned memory segment embedding per key/value head (the paper adds one embedding to
 * input keys and another to memory keys; only their difference matters, so we learn one).
 *
 * The update rule (our reading of the paper's, with our choices where it is open): in training,
 * and without a decoding state, each forward appends its keys (unrotated, after QK-norm) and
 * values, detached, from every sequence and token, to a FIFO bank of `bankSize` entries per
 * key/value head (the paper's banks over the last T iterations). `refreshPrototypes()`
 * recomputes them from the bank: P_K = k-means centroids (L2, `kmeansIterations` Lloyd steps
 * from evenly spaced entries), and each value prototype is the mean of the values of the
 * `neighbours` bank keys nearest (L2) to its key prototype. With `refreshEvery: n` the mixer
 * refreshes itself after every n recorded forwards (the paper's strided window). Prototypes are
 * non-trainable parameters, so they save and load with the weights; the bank is not saved.
 * Before the first refresh the prototypes are zeros (keys = s, values 0).
 */
export class PrototypeMemoryAttention extends MultiHeadAttention<
  PrototypeMemoryConfig & { normalizer?: string }
> {
  readonly prototypeKeys: tf.Variable;
  readonly prototypeValues: tf.Variable;
  readonly memorySegment: tf.Variable;
  /** The bank of past keys and values, one store per key/value head. */
  readonly banks: KnnStore[];
  private recorded = 0;

  constructor(config: PrototypeMemoryConfig, options: ModuleOptions = {}) {
    super(config, options);
    const { numPrototypes: m, bankSize } = this.config;
    const [kvh, hd, dv] = [this.numKvHeads, this.headDim, this.layout.valueDim];
    this.banks = Array.from(
      { length: kvh },
      () => new KnnStore({ dim: hd, valueDim: dv, capacity: bankSize }),
    );
    this.prototypeKeys = this.addParameter('prototypeKeys', tf.zeros([kvh, m, hd]), false);
    this.prototypeValues = this.addParameter('prototypeValues', tf.zeros([kvh, m, dv]), false);
    this.memorySegment = this.addParameter('memorySegment', tf.zeros([kvh, 1, hd]));
  }

  /** Multi-head attention's, without cross-layer sharing (each layer attends its own prototypes). */
  override get capabilities(): MixerCapabilities {
    return { ...super.capabilities, sharedKeyValues: false };
  }

  override forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const prefix = this.prototypePrefix(context.prefix);
    try {
      const out = super.forward(x, { ...context, prefix });
      if ((context.training ?? this.training) && !context.state) this.record(x);
      return out;
    } finally {
      tf.dispose([prefix.keys, prefix.values]);
    }
  }

  /**
   * Recomputes the prototypes from the bank (see the class note). Returns false, changing
   * nothing, while a bank holds fewer than numPrototypes entries.
   */
  refreshPrototypes(): boolean {
    const { numPrototypes: m, neighbours = 8, kmeansIterations = 8 } = this.config;
    if (this.banks.some((b) => b.size < m)) return false;
    const [hd, dv] = [this.headDim, this.layout.valueDim];
    const keys = new Float32Array(this.banks.length * m * hd);
    const values = new Float32Array(this.banks.length * m * dv);
    this.banks.forEach((bank, h) => {
      const centroids = kmeans(bank.keys, bank.size, hd, m, kmeansIterations);
      keys.set(centroids, h * m * hd);
      for (let c = 0; c < m; c++) {
        const near = nearestRows(
          bank.keys,
          bank.size,
          hd,
          centroids.subarray(c * hd, (c + 1) * hd),
          neighbours,
        );
        const at = (h * m + c) * dv;
        for (const s of near) {
          for (let j = 0; j < dv; j++) values[at + j]! += bank.values[s * dv + j]! / near.length;
        }
      }
    });
    tf.tidy(() => {
      this.prototypeKeys.assign(
        tf.tensor3d(keys, this.prototypeKeys.shape as [number, number, number]),
      );
      this.prototypeValues.assign(
        tf.tensor3d(values, this.prototypeValues.shape as [number, number, number]),
      );
    });
    return true;
  }

  /** Prototypes as a prefix [1 or batch, kvHeads, P, d], after the context's own prefix. */
  private prototypePrefix(own: KeyValuePrefix | undefined): KeyValuePrefix {
    return tf.tidy(() => {
      let keys = tf.expandDims(tf.add(this.prototypeKeys, this.memorySegment), 0);
      let values = tf.expandDims(this.prototypeValues, 0);
      if (!own) return { keys: keys as tf.Tensor4D, values: values as tf.Tensor4D };
      const b = own.keys.shape[0];
      if (b > 1) [keys, values] = [keys, values].map((t) => tf.tile(t, [b, 1, 1, 1]));
      return {
        keys: tf.concat([own.keys, keys], 2) as tf.Tensor4D,
        values: tf.concat([own.values, values], 2) as tf.Tensor4D,
      };
    });
  }

  /** Appends x's keys and values (detached, every sequence and token) to the banks. */
  private record(x: tf.Tensor3D): void {
    const [b, t] = x.shape;
    const [kvh, hd, dv] = [this.numKvHeads, this.headDim, this.layout.valueDim];
    const [kd, vd] = tf.tidy(() => {
      const heads = (y: tf.Tensor, w: number) =>
        tf.transpose(tf.reshape(y, [b, t, kvh, w]), [2, 0, 1, 3]); // [kvh, b, t, w]
      let k = heads(this.k.forward(x), hd);
      if (this.kNorm) k = this.kNorm.forward(k);
      return [
        k.dataSync() as Float32Array,
        heads(this.v.forward(x), dv).dataSync() as Float32Array,
      ];
    });
    this.banks.forEach((bank, h) => {
      bank.add(
        kd.subarray(h * b * t * hd, (h + 1) * b * t * hd),
        vd.subarray(h * b * t * dv, (h + 1) * b * t * dv),
      );
    });
    this.recorded++;
    const every = this.config.refreshEvery;
    if (every !== undefined && this.recorded % every === 0) this.refreshPrototypes();
  }
}

register(
  'prototype-memory',
  (c: PrototypeMemoryConfig, o: ModuleOptions) => new PrototypeMemoryAttention(c, o),
  prototypeMemorySchema,
  {
    category: 'mixer',
    estimate: (c: PrototypeMemoryConfig) => {
      const kvh = c.numKvHeads ?? c.numHeads;
      const hd = c.headDim ?? c.dModel / c.numHeads;
      const prototypes = 2 * kvh * c.numPrototypes * hd + kvh * hd;
      const sink = c.sinkLogit ? c.numHeads : 0;
      const bank = kvh * KnnStore.bytesFor(c.bankSize, hd);
      return estimateOf(projectedParameters(c) + prototypes + sink, bank);
    },
    info: {
      paper:
        'Barraco et al. 2023, With a Little Help from your own Past: Prototypical Memory Networks for Image Captioning',
      equation:
        'sec. 3 (attention over [K; P_K + s], [V; P_V]; prototypes by k-means over a bank of past keys/values)',
      summary:
        'Multi-head attention that also attends prototype keys/values: k-means summaries of a bounded FIFO bank of past training keys and values.',
      example: {
        type: 'prototype-memory',
        dModel: 8,
        numHeads: 2,
        numPrototypes: 3,
        bankSize: 32,
        neighbours: 2,
      },
    },
  },
);
