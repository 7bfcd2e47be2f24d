import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Linear,
  Module,
  QKNorm,
  ShapeError,
  checkRank,
  formatShape,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { scaledDotProductAttention } from '../ops/sdpa';
import { KVCache } from '../cache/kv-cache';
import type { AttentionConfig } from './config';

/**
 * Multi-head attention (Vaswani et al. 2017, sec. 3.2.2): project to heads, attend,
 * merge, project out. Grouped-query (Ainslie et al. 2023) when numKvHeads < numHeads;
 * the positional encoding comes from the context. Subclasses only fix the config.
 */
export class MultiHeadAttention<C extends AttentionConfig = AttentionConfig>
  extends Module<C>
  implements TokenMixer
{
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly qNorm: QKNorm | null;
  readonly kNorm: QKNorm | null;
  readonly sink: tf.Variable | null;
  readonly numKvHeads: number;
  readonly headDim: number;

  constructor(config: C, options: ModuleOptions = {}) {
    super(config, options);
    const block = config.type;
    const { dModel, numHeads } = config;
    this.numKvHeads = config.numKvHeads ?? numHeads;
    if (numHeads % this.numKvHeads !== 0) {
      throw new ConfigError(
        block,
        'numKvHeads',
        `a divisor of numHeads=${numHeads}`,
        String(this.numKvHeads),
      );
    }
    if (config.headDim === undefined && dModel % numHeads !== 0) {
      throw new ConfigError(
        block,
        'numHeads',
        `a divisor of dModel=${dModel} (or set headDim)`,
        String(numHeads),
      );
    }
    this.headDim = config.headDim ?? dModel / numHeads;
    const bias = config.bias ?? false;
    const inner = numHeads * this.headDim;
    const kvInner = this.numKvHeads * this.headDim;
    this.q = this.addModule(
      'q',
      new Linear({ inFeatures: dModel, outFeatures: inner, bias }, options),
    );
    this.k = this.addModule(
      'k',
      new Linear({ inFeatures: dModel, outFeatures: kvInner, bias }, options),
    );
    this.v = this.addModule(
      'v',
      new Linear({ inFeatures: dModel, outFeatures: kvInner, bias }, options),
    );
    this.o = this.addModule(
      'o',
      new Linear({ inFeatures: inner, outFeatures: dModel, bias }, options),
    );
    const norm = config.qkNorm;
    this.qNorm = norm
      ? this.addModule('qNorm', new QKNorm({ headDim: this.headDim, norm }, options))
      : null;
    this.kNorm = norm
      ? this.addModule('kNorm', new QKNorm({ headDim: this.headDim, norm }, options))
      : null;
    this.sink = config.sinkLogit ? this.addParameter('sink', tf.zeros([numHeads])) : null;
  }

  /** Cross-attention reads keys and values from context.memory. */
  protected get isCross(): boolean {
    return false;
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window, sinkTokens: this.config.numSinkTokens });
  }

  /** [b, t, heads·d] -> [b, heads, t, d] */
  protected splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
    const [b, t] = x.shape;
    return tf.transpose(tf.reshape(x, [b!, t!, heads, this.headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    checkRank(block, 'x', x, 3);
    if (x.shape[2] !== this.config.dModel) {
      throw new ShapeError(
        block,
        'x',
        `last axis dModel=${this.config.dModel}`,
        `shape ${formatShape(x.shape)}`,
      );
    }
    const cache = context.state as KVCache | undefined;
    if (cache && !(cache instanceof KVCache)) {
      throw new ConfigError(
        block,
        'context.state',
        'a KVCache from initState()',
        (context.state as object).constructor.name,
      );
    }
    const source = this.isCross ? context.memory : x;
    if (!source)
      throw new ConfigError(
        block,
        'context.memory',
        'a [batch, time, dModel] tensor (cross-attention)',
        'undefined',
      );
    if (this.isCross) {
      checkRank(block, 'context.memory', source, 3);
      if (source.shape[2] !== this.config.dModel || source.shape[0] !== x.shape[0]) {
        throw new ShapeError(
          block,
          'context.memory',
          `shape [${x.shape[0]},time,${this.config.dModel}]`,
          `shape ${formatShape(source.shape)}`,
        );
      }
    }
    if (cache && context.segmentIds) {
      throw new ConfigError(
        block,
        'context.segmentIds',
        'no segment ids while decoding with a cache',
        'segment ids',
      );
    }
    const [batch, time] = x.shape;
    const offset = cache && !this.isCross ? cache.length : 0;
    const queryPositions = context.positions
      ? Array.from(context.positions.dataSync())
      : Array.from({ length: time }, (_, i) => offset + i);
    if (queryPositions.length !== time) {
      throw new ShapeError(
        block,
        'context.positions',
        `${time} positions`,
        `${queryPositions.length}`,
      );
    }
    const positional = this.isCross ? undefined : context.positional;
    const causal = !this.isCross && (this.config.causal ?? true) && (context.causal ?? true);
    const training = context.training ?? this.training;

    return tf.tidy(() => {
      let q = this.splitHeads(this.q.forward(x), this.config.numHeads);
      let k = this.splitHeads(this.k.forward(source), this.numKvHeads);
      const v = this.splitHeads(this.v.forward(source), this.numKvHeads);
      if (this.qNorm) q = this.qNorm.forward(q) as tf.Tensor4D;
      if (this.kNorm) k = this.kNorm.forward(k) as tf.Tensor4D;
      let keyPositions = this.isCross ? [...Array(source.shape[1]).keys()] : queryPositions;
      if (positional?.rotate) {
        q = positional.rotate(q, tf.tensor1d(queryPositions, 'int32'));
        k = positional.rotate(k, tf.tensor1d(keyPositions, 'int32'));
      }
      let keys = k;
      let values = v;
      if (cache && !this.isCross) {
        ({ keys, values, positions: keyPositions } = cache.append(k, v, queryPositions));
      }
      const bias = positional?.bias?.(
        tf.tensor1d(queryPositions, 'int32'),
        tf.tensor1d(keyPositions, 'int32'),
        this.config.numHeads,
        q,
      );
      const scale = (positional?.logitScale ?? 1) / Math.sqrt(this.headDim);
      const dropout = training ? (this.config.dropout ?? 0) : 0;
      const { output, weights } = scaledDotProductAttention(q, keys, values, {
        causal,
        window: this.isCross ? undefined : this.config.window,
        sinkTokens: this.config.numSinkTokens,
        scale,
        logitSoftcap: this.config.logitSoftcap,
        sinkLogit: this.sink ?? undefined,
        bias,
        mask: context.mask,
        querySegments: context.segmentIds,
        queryPositions,
        keyPositions,
        dropout,
        seed: dropout > 0 ? this.rng.nextUint32() : undefined,
        chunkSize: this.config.chunkSize,
        returnWeights: context.attentionHook !== undefined && this.config.chunkSize === undefined,
      });
      if (weights) context.attentionHook!({ block, weights });
      if (cache) cache.evict();
      const merged = tf.reshape(tf.transpose(output, [0, 2, 1, 3]), [
        batch,
        time,
        this.config.numHeads * this.headDim,
      ]);
      return this.o.forward(merged) as tf.Tensor3D;
    });
  }
}
