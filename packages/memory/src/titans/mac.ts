import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  Module,
  State,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import {
  RECURRENT_CAPABILITIES,
  checkMixerInput,
  scaledDotProductAttention,
} from '@attnkit/attention';
import { NeuralMemory, memoryFields, memoryParameters } from './neural-memory';
import { NeuralMemoryState } from './state';

/** 'titans-mac': memory as a context (Behrouz et al. 2024, sec. 4.1). */
export const titansMacSchema = z
  .strictObject({
    type: z.literal('titans-mac'),
    ...memoryFields,
    /** Learned persistent memory tokens (eqs. 19-20), attended by every query; default 4. */
    persistentTokens: z.number().int().min(0).optional(),
  })
  .refine((c) => c.dModel % c.numHeads === 0, {
    path: ['numHeads'],
    message: 'a divisor of dModel',
  });
export type TitansMacConfig = z.input<typeof titansMacSchema>;

const CACHE = ['hKeys', 'hValues', 'xKeys', 'xValues'] as const;

/**
 * MAC's decoding state: the memory's weights and the keys/values of the current segment's tokens
 * so far, of the retrieved memory h and of x (fewer than a segment: constant size).
 */
export class TitansMacState extends State {
  readonly memory: NeuralMemoryState;

  constructor() {
    super();
    this.memory = this.addChild('memory', new NeuralMemoryState());
  }

  /** The cached keys/values, or undefined when the segment has just begun. */
  get cache(): tf.Tensor4D[] | undefined {
    const t = CACHE.map((n) => this.tensor<tf.Tensor4D>(n));
    return t[0] ? (t as tf.Tensor4D[]) : undefined;
  }

  /** Keeps `next` (or nothing) as the segment's cache and counts `tokens` more tokens. */
  update(next: tf.Tensor4D[] | undefined, tokens: number): void {
    CACHE.forEach((n, i) => this.setTensor(n, next?.[i] ?? null));
    this.advance(tokens);
  }
}

/** Parameters: the memory, the attention's q/k/v/o and the persistent tokens. */
function estimateMac(c: TitansMacConfig) {
  return estimateOf(
    memoryParameters(c) + 4 * c.dModel * c.dModel + (c.persistentTokens ?? 4) * c.dModel,
  );
}

/**
 * Titans MAC, memory as a context (Behrouz et al. 2024, sec. 4.1, eqs. 21-25). The sequence is cut
 * into segments of `chunkSize` tokens (the memory's chunk). For a segment S: h = M*_{t−1}(q),
 * retrieved with the segment's queries from the memory as it stood before the segment (eq. 21);
 * attention over [P, h, S] (eq. 22: persistent tokens as an unmasked key/value prefix, h and S
 * causal within the segment, keys and values by shared projections), one attention per segment,
 * so nothing of a later segment (not even an overflow: 0·∞) reaches an earlier one's outputs;
 * then the memory learns the segment (eq. 23; here from its input tokens) and the output is the
 * attention's. Decoding carries the memory's weights and the segment's keys/values.
 */
export class TitansMac extends Module<TitansMacConfig> implements TokenMixer {
  readonly memory: NeuralMemory<TitansMacConfig>;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly persistent: tf.Variable | null;

  constructor(config: TitansMacConfig, options: ModuleOptions = {}) {
    super(parseConfig('titans-mac', titansMacSchema, config), options);
    const { dModel: d, persistentTokens = 4 } = this.config;
    this.memory = this.addModule('memory', new NeuralMemory(this.config, { rng: this.rng }, true));
    const linear = () =>
      new Linear({ inFeatures: d, outFeatures: d, bias: false }, { rng: this.rng });
    this.q = this.addModule('q', linear());
    this.k = this.addModule('k', linear());
    this.v = this.addModule('v', linear());
    this.o = this.addModule('o', linear());
    this.persistent =
      persistentTokens > 0
        ? this.addParameter(
            'persistent',
            initTensor({ name: 'normal', std: 1 }, [persistentTokens, d], this.rng),
          )
        : null;
  }

  get segment(): number {
    return this.config.chunkSize ?? 16;
  }

  /** Causal only, no positions (order comes from the memory and the causal segment); constant state. */
  get capabilities(): MixerCapabilities {
    return RECURRENT_CAPABILITIES;
  }

  initState(_batch: number): TitansMacState {
    return new TitansMacState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const caps = this.capabilities;
    const state = checkMixerInput(
      'titans-mac',
      x,
      this.config.dModel,
      context,
      TitansMacState,
      caps,
    );
    const [b, t, d] = x.shape;
    const offset = state?.length ?? 0;
    const cached = offset % this.segment;
    const [output, ...next] = tf.tidy(() => {
      const h = this.config.numHeads;
      const heads = (y: tf.Tensor) =>
        tf.transpose(tf.reshape(y, [b, t, h, d / h]), [0, 2, 1, 3]) as tf.Tensor4D;
      const mem = this.memory.run(x, state?.memory, 'chunkStart');
      // The pieces of x in one segment each: the rest of the current segment, whole segments, a head.
      const sizes = segmentPieces(offset, t, this.segment);
      const pieces = (y: tf.Tensor4D) =>
        sizes.length === 1 ? [y] : (tf.split(y, sizes, 2) as tf.Tensor4D[]);
      const fresh = [
        this.k.forward(mem),
        this.v.forward(mem),
        this.k.forward(x),
        this.v.forward(x),
      ].map((y) => pieces(heads(y)));
      const queries = pieces(heads(this.q.forward(x)));
      const prefix = this.prefix();
      const old = state?.cache;
      let all: tf.Tensor4D[] = [];
      const outputs = sizes.map((n, i) => {
        // The segment's keys/values so far: [h | x], each preceded by the cached ones of its start.
        const seen = i === 0 ? cached : 0;
        all = fresh.map((f, j) =>
          i === 0 && old ? (tf.concat([old[j]!, f[i]!], 2) as tf.Tensor4D) : f[i]!,
        );
        const [hk, hv, xk, xv] = all as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        return scaledDotProductAttention(
          queries[i]!,
          tf.concat([hk, xk], 2) as tf.Tensor4D,
          tf.concat([hv, xv], 2) as tf.Tensor4D,
          { scale: 1 / Math.sqrt(d / h), mask: segmentMask(seen, n), prefix },
        ).output;
      });
      const attended = outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 2);
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [b, t, d]);
      // Keep the keys/values of the segment the next token belongs to (the last piece's).
      const kept = (offset + t) % this.segment === 0 ? [] : all;
      return [this.o.forward(merged), ...kept];
    });
    state?.update(next.length ? (next as tf.Tensor4D[]) : undefined, t);
    return output as tf.Tensor3D;
  }

  /** P's keys and values [1, heads, p, headDim], unpositioned. */
  private prefix() {
    if (!this.persistent) return undefined;
    const { numHeads: h, dModel: d } = this.config;
    const p = this.persistent.shape[0];
    const heads = (y: tf.Tensor) =>
      tf.transpose(tf.reshape(y, [1, p, h, d / h]), [0, 2, 1, 3]) as tf.Tensor4D;
    const r = tf.expandDims(this.persistent, 0);
    return { keys: heads(this.k.forward(r)), values: heads(this.v.forward(r)) };
  }
}

/** Lengths of the pieces of t tokens from `offset` that each lie in one segment. */
function segmentPieces(offset: number, t: number, segment: number): number[] {
  const sizes: number[] = [];
  for (let done = 0; done < t;) {
    const n = Math.min(segment - ((offset + done) % segment), t - done);
    sizes.push(n);
    done += n;
  }
  return sizes;
}

/**
 * [1, 1, n, 2m] (true = attend) for n queries after `seen` tokens of their segment, over the
 * segment's keys [h | x] (m = seen + n each): causal within the segment.
 */
function segmentMask(seen: number, n: number): tf.Tensor {
  const m = seen + n;
  const values = new Uint8Array(n * 2 * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= seen + i; j++) {
      values[i * 2 * m + j] = 1;
      values[i * 2 * m + m + j] = 1;
    }
  }
  return tf.tensor4d(values, [1, 1, n, 2 * m], 'bool');
}

register('titans-mac', (c, o) => new TitansMac(c as TitansMacConfig, o), titansMacSchema, {
  category: 'mixer',
  estimate: estimateMac,
  info: {
    paper: 'Behrouz et al. 2024, Titans: Learning to Memorize at Test Time',
    equation:
      'sec. 4.1, eqs. 21-25: h = M*_{t−1}(q_S), y = Attn([P, h, S]), M_t = M_{t−1}(S) per segment',
    summary:
      'memory as a context: each segment attends persistent tokens, what the memory retrieves for it and itself; the memory then learns the segment',
    example: { type: 'titans-mac', dModel: 8, numHeads: 2, chunkSize: 3, persistentTokens: 2 },
  },
});
