import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Linear,
  Module,
  QKNorm,
  SOFTMAX_CAPABILITIES,
  maskToAdditive,
  splitHeadsKernel,
  type HeadControl,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type PositionalEncoding,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { repeatKvHeads } from '../ops/validate';
import { withBlockAttention } from '../ops/block-attention';
import type { AttentionConfig } from './config';
import { mergeHeads, positionalBias, rotate, splitHeads } from './heads';

/** The config fields the projections read. */
export type ProjectionConfig = Pick<
  AttentionConfig,
  'type' | 'dModel' | 'numHeads' | 'numKvHeads' | 'headDim' | 'bias' | 'qkNorm' | 'causal'
> & { window?: number; chunkSize?: number };

/**
 * Heads of the projections: q and k give queryHeads and keyHeads heads of headDim, v gives
 * valueHeads heads of valueDim, o reads outputHeads heads of valueDim.
 */
export interface HeadLayout {
  /** config.numKvHeads resolved (default numHeads). */
  numKvHeads: number;
  headDim: number;
  queryHeads: number;
  keyHeads: number;
  valueHeads: number;
  valueDim: number;
  outputHeads: number;
}

/**
 * Parameters of the q/k/v/o projections and QK norms `ProjectedAttention` builds for `config`,
 * computed without allocating (the registry's `estimate`, issue 16).
 */
export function projectedParameters(config: ProjectionConfig, split = 1): number {
  return layoutParameters(config, headLayout(config, split));
}

/** Parameters of the projections and QK norms for a given (possibly overridden) head layout. */
export function layoutParameters(
  config: Pick<ProjectionConfig, 'dModel' | 'bias' | 'qkNorm'>,
  layout: HeadLayout,
): number {
  const bias = config.bias ?? false;
  const linear = (inFeatures: number, outFeatures: number) =>
    inFeatures * outFeatures + (bias ? outFeatures : 0);
  const d = config.dModel;
  const norms = config.qkNorm && config.qkNorm !== 'l2' ? 2 * layout.headDim : 0;
  return (
    linear(d, layout.queryHeads * layout.headDim) +
    linear(d, layout.keyHeads * layout.headDim) +
    linear(d, layout.valueHeads * layout.valueDim) +
    linear(layout.outputHeads * layout.valueDim, d) +
    norms
  );
}

/**
 * The layout of (grouped-query) multi-head attention, once the config is checked: numKvHeads
 * divides numHeads; numHeads·split divides dModel unless headDim is set. split = 2 makes each
 * head a pair of query/key heads over values twice as wide (differential attention).
 */
export function headLayout(config: ProjectionConfig, split = 1): HeadLayout {
  const { type: block, dModel, numHeads } = config;
  const numKvHeads = config.numKvHeads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(
      block,
      '$.numKvHeads',
      `a divisor of numHeads=${numHeads}`,
      String(numKvHeads),
    );
  }
  if (config.headDim === undefined && dModel % (split * numHeads) !== 0) {
    const width = split === 1 ? `dModel=${dModel}` : `dModel/${split}=${dModel / split}`;
    throw new ConfigError(
      block,
      '$.numHeads',
      `a divisor of ${width} (or set headDim)`,
      String(numHeads),
    );
  }
  const headDim = config.headDim ?? dModel / (split * numHeads);
  return {
    numKvHeads,
    headDim,
    queryHeads: split * numHeads,
    keyHeads: split * numKvHeads,
    valueHeads: numKvHeads,
    valueDim: split * headDim,
    outputHeads: numHeads,
  };
}

/**
 * Base of the attention mixers that project x to query, key and value heads and merge the
 * heads back through an output projection (Vaswani et al. 2017, sec. 3.2.2), with optional
 * QK-norm (Henry et al. 2020; Dehghani et al. 2023). It creates q, k, v, o, qNorm, kNorm in
 * that order, so one seed draws the same weights in every subclass; a subclass adds its own
 * parameters after them and writes its own forward.
 */
export abstract class ProjectedAttention<C extends ProjectionConfig> extends Module<C> {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly qNorm: QKNorm | null;
  readonly kNorm: QKNorm | null;
  readonly numKvHeads: number;
  readonly headDim: number;
  protected readonly layout: HeadLayout;

  /** `layout` is checked and built before any parameter, so a bad config leaks nothing. */
  constructor(config: C, options: ModuleOptions = {}, layout: HeadLayout = headLayout(config)) {
    super(config, options);
    this.layout = layout;
    this.numKvHeads = layout.numKvHeads;
    this.headDim = layout.headDim;
    const { dModel } = config;
    const bias = config.bias ?? false;
    const sub = { rng: this.rng };
    const linear = (name: string, inFeatures: number, outFeatures: number) =>
      this.addModule(name, new Linear({ inFeatures, outFeatures, bias }, sub));
    this.q = linear('q', dModel, layout.queryHeads * layout.headDim);
    this.k = linear('k', dModel, layout.keyHeads * layout.headDim);
    this.v = linear('v', dModel, layout.valueHeads * layout.valueDim);
    this.o = linear('o', layout.outputHeads * layout.valueDim, dModel);
    const norm = config.qkNorm;
    const qkNorm = (name: string) =>
      this.addModule(name, new QKNorm({ headDim: layout.headDim, norm: norm! }, sub));
    this.qNorm = norm ? qkNorm('qNorm') : null;
    this.kNorm = norm ? qkNorm('kNorm') : null;
  }

  /** x [b, t, dModel] -> queries [b, queryHeads, t, headDim], QK-normed and rotated. */
  protected projectQueries(
    x: tf.Tensor3D,
    positions: number[],
    positional: PositionalEncoding | undefined,
  ): tf.Tensor4D {
    const q = this.q.forward(x) as tf.Tensor3D;
    return this.rotatedHeads(q, this.layout.queryHeads, this.qNorm, positional, positions);
  }

  /**
   * source [b, t, dModel] -> keys (QK-normed, rotated) and values as heads, appended to the
   * cache when one is given: then every cached key and value, at their positions.
   */
  protected projectKeysValues(
    source: tf.Tensor3D,
    positions: number[],
    positional: PositionalEncoding | undefined,
    cache?: KVCache,
  ): { keys: tf.Tensor4D; values: tf.Tensor4D; positions: number[] } {
    const k = this.k.forward(source) as tf.Tensor3D;
    const keys = this.rotatedHeads(k, this.layout.keyHeads, this.kNorm, positional, positions);
    const values = splitHeads(this.v.forward(source), this.layout.valueHeads, this.layout.valueDim);
    return cache ? cache.append(keys, values, positions) : { keys, values, positions };
  }

  /**
   * A q or k projection as heads, QK-normed and rotated. Without a norm in between, a plain
   * rotary encoding is folded into the split (one kernel each way where the backend has it).
   */
  private rotatedHeads(
    x: tf.Tensor3D,
    heads: number,
    norm: QKNorm | null,
    positional: PositionalEncoding | undefined,
    positions: number[],
  ): tf.Tensor4D {
    if (!norm && positional?.rotate && positional.rotary) {
      const fused = splitHeadsKernel(x, heads, positional.rotary, positions);
      if (fused) return fused;
    }
    let h = splitHeads(x, heads, this.headDim);
    if (norm) h = norm.forward(h) as tf.Tensor4D;
    return rotate(positional, h, positions);
  }

  /**
   * Self-attention's projections of x at `positions`: queries, and keys and values (every
   * cached one, at their positions, when a cache is given).
   */
  protected projectSelf(
    x: tf.Tensor3D,
    positions: number[],
    positional: PositionalEncoding | undefined,
    cache?: KVCache,
  ): { q: tf.Tensor4D; keys: tf.Tensor4D; values: tf.Tensor4D; keyPositions: number[] } {
    const q = this.projectQueries(x, positions, positional);
    const projected = this.projectKeysValues(x, positions, positional, cache);
    return { q, keys: projected.keys, values: projected.values, keyPositions: projected.positions };
  }

  /**
   * Softmax attention's capabilities; causal-only when the config fixes `causal: true`, never
   * causal when it fixes `false`; a window bounds the state. Subclasses narrow it.
   */
  get capabilities(): MixerCapabilities {
    const { causal, window } = this.config;
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: causal === undefined ? 'either' : causal ? 'only' : 'never',
      stateGrowth: window === undefined ? 'linear' : 'constant',
      // Only the mixers that attend through scaledDotProductAttention pass a prefix on.
      keyValuePrefix: false,
    };
  }

  /**
   * The form and weights options of one call: a hook gets the full weights, so with a hook the
   * naive form runs even when `chunkSize` is set (same output; the map is what was asked for).
   */
  protected weightsOptions(context: MixerContext): { chunkSize?: number; returnWeights: boolean } {
    const hooked = context.attentionHook !== undefined;
    return { chunkSize: hooked ? undefined : this.config.chunkSize, returnWeights: hooked };
  }

  /** Causal unless the config or the call says otherwise (both default to causal). */
  protected isCausal(context: MixerContext): boolean {
    return (this.config.causal ?? true) && (context.causal ?? true);
  }

  /**
   * The logit options every mixer takes from its context: scale (the encoding's logit scale
   * over √headDim), the encoding's bias for q's heads, mask, segment ids and positions.
   */
  protected logitOptions(
    q: tf.Tensor4D,
    positional: PositionalEncoding | undefined,
    context: MixerContext,
    queryPositions: number[],
    keyPositions: number[],
  ) {
    return {
      scale: (positional?.logitScale ?? 1) / Math.sqrt(this.headDim),
      bias: positionalBias(positional, queryPositions, keyPositions, q.shape[1], q),
      mask: withCacheValidity(blockMask(context), cacheOf(context.state), q.shape[1]),
      querySegments: context.blockAttention ? undefined : context.segmentIds,
      queryPositions,
      keyPositions,
    };
  }

  /** Heads [b, outputHeads, t, valueDim] -> [b, t, dModel] through o, scaled per head by `control`. */
  protected mergeAndProject(heads: tf.Tensor4D, control?: HeadControl): tf.Tensor3D {
    const scaled =
      control?.disabled || control?.weights ? scaleHeads(this.config.type, heads, control) : heads;
    return this.o.forward(mergeHeads(scaled)) as tf.Tensor3D;
  }
}

/** heads [b, h, t, d] times weights[h], zero for disabled heads. */
export function scaleHeads(block: string, heads: tf.Tensor4D, control: HeadControl): tf.Tensor4D {
  const h = heads.shape[1];
  const scale = control.weights ?? new Array<number>(h).fill(1);
  if (scale.length !== h || !scale.every(Number.isFinite)) {
    throw new ConfigError(
      block,
      'context.heads.weights',
      `${h} finite numbers`,
      `${scale.length} values`,
    );
  }
  const factors = [...scale];
  for (const head of control.disabled ?? []) {
    if (!Number.isInteger(head) || head < 0 || head >= h) {
      throw new ConfigError(
        block,
        'context.heads.disabled',
        `head indices in [0, ${h})`,
        String(head),
      );
    }
    factors[head] = 0;
  }
  return tf.mul(heads, tf.tensor4d(factors, [1, h, 1, 1])) as tf.Tensor4D;
}

/** The context's mask, narrowed to Block-Attention's blocks when it asks for them. */
function blockMask(context: MixerContext): tf.Tensor | undefined {
  const { mask, segmentIds, blockAttention } = context;
  return blockAttention && segmentIds ? withBlockAttention(mask, segmentIds) : mask;
}

/** The KV cache inside a mixer's state (the state itself, or its `cache` child). */
function cacheOf(state: unknown): KVCache | undefined {
  if (state instanceof KVCache) return state;
  const inner = (state as { cache?: unknown } | undefined)?.cache;
  return inner instanceof KVCache ? inner : undefined;
}

/**
 * The context's mask combined with the cache's per-KV-head validity ([b, kvHeads, kept] ->
 * [b, heads, 1, kept], each query head reading its KV head), boolean or additive like the mask.
 */
function withCacheValidity(
  mask: tf.Tensor | undefined,
  cache: KVCache | undefined,
  heads: number,
): tf.Tensor | undefined {
  const valid = cache?.valid;
  if (!valid) return mask;
  const [b, kvHeads, kept] = valid.shape;
  const perHead = repeatKvHeads(tf.reshape(valid, [b, kvHeads, 1, kept]) as tf.Tensor4D, heads);
  if (!mask) return perHead;
  return mask.dtype === 'bool'
    ? tf.logicalAnd(mask, perHead)
    : tf.add(mask, maskToAdditive(perHead));
}
