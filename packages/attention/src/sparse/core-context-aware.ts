import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  State,
  estimateOf,
  gatherRows,
  parseConfig,
  register,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { headPattern } from '../ops/head-pattern';
import { attentionFields } from '../softmax/config';
import { mixerInput } from '../softmax/heads';
import { projectedParameters } from '../softmax/projected';
import { HeadPatternAttention, patternForm, span } from './head-pattern-base';

const { dModel, numHeads, headDim, bias, qkNorm } = attentionFields;

export const coreContextAwareSchema = z.strictObject({
  type: z.literal('core-context-aware'),
  dModel,
  numHeads,
  headDim,
  bias,
  qkNorm,
  /** Tokens per group: each completed group is pooled into one core token. */
  groupSize: z.number().int().positive(),
  /** Local window s: at least the last s tokens are attended as themselves (up to s + g - 1). */
  window: z.number().int().positive(),
  form: patternForm,
});

export type CoreContextAwareConfig = z.infer<typeof coreContextAwareSchema>;

/** Core tokens query i sees (groups pooled before its window): c = max(0, ⌊(i + 1 - window)/g⌋). */
export function pooledGroups(i: number, groupSize: number, window: number): number {
  return Math.max(0, Math.floor((i + 1 - window) / groupSize));
}

/** Decoding state: the KV cache plus the core keys/values of every completed group. */
export class CoreContextState extends State {
  readonly cache = this.addChild('cache', new KVCache());

  override get length(): number {
    return this.cache.length;
  }

  /** [batch, heads, groups, headDim] and [batch, heads, groups, valueDim], or null. */
  get core(): { keys: tf.Tensor4D; values: tf.Tensor4D } | null {
    const keys = this.tensor<tf.Tensor4D>('coreKeys');
    return keys ? { keys, values: this.tensor<tf.Tensor4D>('coreValues')! } : null;
  }

  setCore(keys: tf.Tensor4D, values: tf.Tensor4D): void {
    this.setTensor('coreKeys', keys);
    this.setTensor('coreValues', values);
  }
}

/**
 * Core Context Aware attention (Chen et al. 2024/2025, "Core Context Aware Attention / Transformers
 * for Long Context Language Modeling", ICML 2025). Globality-aware pooling (eq. 2): the
 * tokens are cut into groups I_m of g, and each group becomes one core token weighted by its
 * importance to the group's last query,
 *   w = softmax(q_{last(m)} K[I_m]ᵀ/√d),   k̂_m = w K[I_m],   v̂_m = w V[I_m]
 * (the paper pools x and then projects, c_m W^K: the same, since Σ w = 1). Locality-preserving:
 * the recent tokens. Fused in one softmax over [K̂; K_local], as the paper does. With the paper's
 * indices made 0-based, query i (window s) sees the first c = max(0, ⌊(i + 1 - s)/g⌋) core tokens
 * (only completed groups: causal) and every key j with c·g ≤ j ≤ i, so each earlier token is
 * seen once, pooled or as itself: at most c + s + g - 1 keys. (The paper's local start,
 * k = i - s - ((i - s) mod g) 1-based, also keeps the last pooled token as itself; not here.)
 */
export class CoreContextAwareAttention extends HeadPatternAttention<CoreContextAwareConfig> {
  constructor(config: CoreContextAwareConfig, options: ModuleOptions = {}) {
    super(parseConfig('core-context-aware', coreContextAwareSchema, config), options);
  }

  override initState(_batch: number): IncrementalState {
    return new CoreContextState();
  }

  private pooled(i: number): number {
    return pooledGroups(i, this.config.groupSize, this.config.window);
  }

  /** The locality-preserving part: keys c·g..i, the tokens not pooled for query i. */
  protected keysOf(_head: number, i: number): Iterable<number> {
    return span(this.pooled(i) * this.config.groupSize, i);
  }

  override forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const h = this.config.numHeads;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      CoreContextState,
      this.training,
      this.capabilities,
    );
    const state = input.state;
    const before = state ? state.length : 0;
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(
        x,
        input.queryPositions,
        context.positional,
        state?.cache,
      );
      const tk = keys.shape[2];
      const core = this.coreTokens(q, keys, values, before, state?.core ?? null);
      if (state && core) state.setCore(core.keys, core.values);
      const n = core ? core.keys.shape[2] : 0;
      const extKeys = core ? tf.concat([core.keys, keys], 2) : keys;
      const extValues = core ? tf.concat([core.values, values], 2) : values;
      const local = (head: number, i: number) => this.keysOf(head, i);
      const pooled = (i: number) => this.pooled(i);
      const pattern = headPattern(block, h, input.time, n + tk, function* (head, row) {
        const i = before + row;
        yield* span(0, pooled(i) - 1); // core tokens: completed groups before the window
        for (const j of local(head, i)) yield n + j;
      });
      const output = this.attend(q, extKeys as tf.Tensor4D, extValues as tf.Tensor4D, pattern);
      return this.mergeAndProject(output, context.heads);
    });
  }

  /**
   * Core keys/values of every completed group: the cached ones plus those of groups that end in
   * this call (their last query is among q). Null while no group is complete.
   */
  private coreTokens(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    before: number,
    cached: { keys: tf.Tensor4D; values: tf.Tensor4D } | null,
  ): { keys: tf.Tensor4D; values: tf.Tensor4D } | null {
    const g = this.config.groupSize;
    const [b, h, t, d] = q.shape;
    const first = Math.floor(before / g);
    const last = Math.floor(keys.shape[2] / g);
    if (last === first) return cached;
    const groups = last - first;
    // Row of each new group's last query in q flattened to [b·h·t, d].
    const rows: number[] = [];
    for (let bh = 0; bh < b * h; bh++) {
      for (let m = first; m < last; m++) rows.push(bh * t + (m + 1) * g - 1 - before);
    }
    const lastQueries = tf.reshape(
      gatherRows(tf.reshape(q, [-1, d]) as tf.Tensor2D, tf.tensor1d(rows, 'int32')),
      [b, h, groups, 1, d],
    );
    const grouped = (x: tf.Tensor4D) =>
      tf.reshape(tf.slice(x, [0, 0, first * g, 0], [-1, -1, groups * g, -1]), [
        b,
        h,
        groups,
        g,
        x.shape[3],
      ]);
    const groupKeys = grouped(keys);
    const weights = tf.softmax(
      tf.mul(tf.sum(tf.mul(lastQueries, groupKeys), -1), 1 / Math.sqrt(d)),
    ); // [b, h, groups, g]
    const pool = (x: tf.Tensor) => tf.sum(tf.mul(tf.expandDims(weights, -1), x), 3);
    const fresh = { keys: pool(groupKeys), values: pool(grouped(values)) };
    if (!cached) return fresh as { keys: tf.Tensor4D; values: tf.Tensor4D };
    return {
      keys: tf.concat([cached.keys, fresh.keys], 2) as tf.Tensor4D,
      values: tf.concat([cached.values, fresh.values], 2) as tf.Tensor4D,
    };
  }
}

register(
  'core-context-aware',
  (c: CoreContextAwareConfig, o: ModuleOptions) => new CoreContextAwareAttention(c, o),
  coreContextAwareSchema,
  {
    category: 'mixer',
    estimate: (c: CoreContextAwareConfig) => estimateOf(projectedParameters(c)),
    info: {
      paper:
        'Chen et al. 2024 (ICML 2025), Core Context Aware Transformers for Long Context Language Modeling',
      equation: 'eq. 2 (importance-pooled core tokens) fused with a local window in one softmax',
      summary:
        'Each completed group of g tokens is pooled by importance into one core token; queries attend to the core tokens plus a local window.',
      example: { type: 'core-context-aware', dModel: 8, numHeads: 2, groupSize: 2, window: 2 },
    },
  },
);
