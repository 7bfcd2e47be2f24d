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
 * causal within the segment, keys and values by shared projections); then the memory learns the
 * segment (eq. 23; here from its input tokens) and the output is the attention's. Decoding
 * carries the memory's weights and the segment's keys/values.
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
    const heads = this.config.numHeads;
    const offset = state?.length ?? 0;
    const cached = offset % this.segment;
    const [output, ...next] = tf.tidy(() => {
      const split = (y: tf.Tensor, n: number) =>
        tf.transpose(
          tf.reshape(y, [y.shape[0]!, n, heads, d / heads]),
          [0, 2, 1, 3],
        ) as tf.Tensor4D;
      const h = this.memory.run(x, state?.memory, 'chunkStart');
      const fresh = [
        split(this.k.forward(h), t),
        split(this.v.forward(h), t),
        split(this.k.forward(x), t),
        split(this.v.forward(x), t),
      ];
      const old = state?.cache;
      const all = old ? fresh.map((f, i) => tf.concat([old[i]!, f], 2) as tf.Tensor4D) : fresh;
      const [hk, hv, xk, xv] = all as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const attended = scaledDotProductAttention(
        split(this.q.forward(x), t),
        tf.concat([hk, xk], 2) as tf.Tensor4D,
        tf.concat([hv, xv], 2) as tf.Tensor4D,
        {
          scale: 1 / Math.sqrt(d / heads),
          mask: this.segmentMask(offset, cached, t),
          prefix: this.prefix(),
        },
      ).output;
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [b, t, d]);
      // Keep the keys/values of the segment the next token belongs to.
      const keep = (offset + t) % this.segment;
      const kept = keep === 0 ? [] : all.map((a) => tf.split(a, [cached + t - keep, keep], 2)[1]!);
      return [this.o.forward(merged), ...kept];
    });
    state?.update(next.length ? (next as tf.Tensor4D[]) : undefined, t);
    return output as tf.Tensor3D;
  }

  /**
   * [1, 1, t, 2n] (true = attend) over the keys [h | x] of positions offset − cached .. offset + t − 1:
   * the same segment as the query, at or before it.
   */
  private segmentMask(offset: number, cached: number, t: number): tf.Tensor {
    const n = cached + t;
    const first = offset - cached;
    const seg = (p: number) => Math.floor(p / this.segment);
    const values = new Uint8Array(t * 2 * n);
    for (let i = 0; i < t; i++) {
      const qp = offset + i;
      for (let j = 0; j < n; j++) {
        const ok = seg(first + j) === seg(qp) && first + j <= qp ? 1 : 0;
        values[i * 2 * n + j] = ok;
        values[i * 2 * n + n + j] = ok;
      }
    }
    return tf.tensor4d(values, [1, 1, t, 2 * n], 'bool');
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
