import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Module,
  build,
  configKeys,
  estimateChild,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  slotSchema,
  sumEstimates,
  type AttentionWeightsInfo,
  type IncrementalState,
  type KeyValuePrefix,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { headLayout } from '@attnkit/attention';

/** 'memory-tokens': learned keys/values every query of the wrapped softmax mixer attends. */
export const memoryTokensSchema = z.strictObject({
  type: z.literal('memory-tokens'),
  dModel: z.number().int().positive(),
  /** Learned key/value pairs per key/value head (x-transformers' num_mem_kv). */
  numTokens: z.number().int().positive(),
  /** A softmax mixer that honours `context.prefix` (mha, gqa, mqa, sliding-window, moh, ...). */
  mixer: slotSchema(),
});
export type MemoryTokensConfig = z.input<typeof memoryTokensSchema>;
type Parsed = z.output<typeof memoryTokensSchema>;

type Mixer = Module & TokenMixer & { numKvHeads?: number; headDim?: number };

/** The wrapped mixer's config with the wrapper's dModel filled in when its type takes one. */
function innerConfig(c: Parsed): Record<string, unknown> {
  const takes = configKeys(c.mixer.type)?.includes('dModel') ?? false;
  return takes && !('dModel' in c.mixer) ? { ...c.mixer, dModel: c.dModel } : { ...c.mixer };
}

/**
 * Memory tokens as learned key/value pairs (Sukhbaatar et al. 2019, "Augmenting Self-attention
 * with Persistent Memory", sec. 4.1: the persistent vectors M_k, M_v join every head's keys and
 * values, K = [W_k X, M_k], V = [W_v X, M_v]; x-transformers' memory key/values). N pairs per
 * key/value head, [1, kvHeads, N, headDim], handed to
 * the wrapped mixer through `context.prefix`: one softmax over [memory | keys], unmasked and
 * unpositioned. The prefix is constant, so decoding is the wrapped mixer's own (its state).
 */
export class MemoryTokens extends Module<Parsed> implements TokenMixer {
  readonly mixer: Mixer;
  readonly keys: tf.Variable;
  readonly values: tf.Variable;

  constructor(config: MemoryTokensConfig, options: ModuleOptions = {}) {
    const c = parseConfig('memory-tokens', memoryTokensSchema, config);
    super(c, options);
    const inner = build<Mixer>(innerConfig(c), {
      rng: this.rng,
      path: '$.mixer',
      category: 'mixer',
    });
    const { numKvHeads, headDim } = inner;
    if (!inner.capabilities?.keyValuePrefix || numKvHeads === undefined || headDim === undefined) {
      inner.dispose();
      throw new ConfigError(
        'memory-tokens',
        '$.mixer.type',
        'a softmax mixer that takes a key/value prefix (capability keyValuePrefix)',
        `'${c.mixer.type}' (takes none)`,
      );
    }
    this.mixer = this.addModule('mixer', inner);
    const shape = [1, numKvHeads, c.numTokens, headDim];
    this.keys = this.addParameter('keys', initTensor({ name: 'normal', std: 1 }, shape, this.rng));
    this.values = this.addParameter(
      'values',
      initTensor({ name: 'normal', std: 1 }, shape, this.rng),
    );
  }

  /** The wrapped mixer's head space, where the prefix lives. */
  get numKvHeads(): number {
    return this.mixer.numKvHeads!;
  }

  get headDim(): number {
    return this.mixer.headDim!;
  }

  /** The wrapped mixer's: the memory tokens change what it attends, not what it takes. */
  get capabilities(): MixerCapabilities {
    return this.mixer.capabilities!;
  }

  initState(batch: number): IncrementalState {
    if (!this.mixer.initState) {
      throw new ConfigError('memory-tokens', 'initState', 'a mixer that decodes', 'none');
    }
    return this.mixer.initState(batch);
  }

  /** The wrapped mixer with the memory tokens before any prefix the caller passes. */
  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const own: KeyValuePrefix = {
        keys: this.keys as unknown as tf.Tensor4D,
        values: this.values as unknown as tf.Tensor4D,
      };
      const prefix = context.prefix ? joinPrefixes(own, context.prefix) : own;
      // The hook sees this block (weights over [memory | keys]), not the wrapped one.
      const hook = context.attentionHook;
      const attentionHook =
        hook && ((info: AttentionWeightsInfo) => hook({ ...info, block: 'memory-tokens' }));
      return this.mixer.forward(x, { ...context, prefix, attentionHook });
    });
  }
}

/** [a | b] along the prefix axis, a batch of 1 tiled to the other's batch. */
function joinPrefixes(a: KeyValuePrefix, b: KeyValuePrefix): KeyValuePrefix {
  const batch = Math.max(a.keys.shape[0], b.keys.shape[0]);
  const tile = (t: tf.Tensor4D) =>
    t.shape[0] === batch ? t : (tf.tile(t, [batch, 1, 1, 1]) as tf.Tensor4D);
  const join = (x: tf.Tensor4D, y: tf.Tensor4D) => tf.concat([tile(x), tile(y)], 2) as tf.Tensor4D;
  if (a.keys.shape[1] !== b.keys.shape[1] || a.keys.shape[3] !== b.keys.shape[3]) {
    throw new ConfigError(
      'memory-tokens',
      'context.prefix',
      `keys [batch or 1, ${a.keys.shape[1]}, p, ${a.keys.shape[3]}] (the mixer's head space)`,
      `[${b.keys.shape.join(', ')}]`,
    );
  }
  return { keys: join(a.keys, b.keys), values: join(a.values, b.values) };
}

/** The wrapped mixer's estimate plus 2·N·kvHeads·headDim (the softmax family's head layout). */
function estimateMemoryTokens(c: Parsed) {
  const inner = innerConfig(c) as Parameters<typeof headLayout>[0];
  const child = estimateChild(inner, '$.mixer', 'mixer');
  // A mixer without heads takes no prefix: the constructor refuses it, naming $.mixer.type.
  if (typeof inner.numHeads !== 'number') return child;
  const layout = headLayout(inner.type === 'mqa' ? { ...inner, numKvHeads: 1 } : inner);
  return sumEstimates(child, estimateOf(2 * c.numTokens * layout.numKvHeads * layout.headDim));
}

register(
  'memory-tokens',
  (c, o) => new MemoryTokens(c as MemoryTokensConfig, o),
  memoryTokensSchema,
  {
    category: 'mixer',
    estimate: estimateMemoryTokens,
    info: {
      paper: 'Sukhbaatar et al. 2019, Augmenting Self-attention with Persistent Memory',
      equation: 'sec. 4.1: K = [W_k X, M_k], V = [W_v X, M_v] (persistent vectors per head)',
      summary:
        'learned memory key/value pairs that every query of a wrapped softmax mixer attends, through its key/value prefix',
      example: {
        type: 'memory-tokens',
        dModel: 8,
        numTokens: 2,
        mixer: { type: 'mha', numHeads: 2 },
      },
    },
  },
);
