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
import { KVCache, scaledDotProductAttention } from '@attnkit/attention';

/** Attention fields a head-weighted mixer accepts (those of `mha`, without sink tokens). */
export interface WeightedHeadsConfig {
  type: string;
  dModel: number;
  numHeads: number;
  numKvHeads?: number;
  headDim?: number;
  bias?: boolean;
  causal?: boolean;
  qkNorm?: 'rms' | 'layer' | 'l2';
  logitSoftcap?: number;
  window?: number;
  sinkLogit?: boolean;
  dropout?: number;
  chunkSize?: number;
}

/**
 * Multi-head attention in the summation form y_t = Σ_i g_i(t) · H^i_t W_O^i (Jin et al. 2024,
 * MoH eqs. 2-3): every head's output is scaled by a per-token weight before the output
 * projection. With g ≡ 1 this is plain multi-head attention; subclasses supply g (MoH, MoA).
 * Parameter names (q, k, v, o, qNorm, kNorm, sink) match `mha`, so its weights load as they are.
 * All heads are computed and the inactive ones weighted 0 (dense), so no FLOPs are saved.
 */
export abstract class WeightedHeadsAttention<C extends WeightedHeadsConfig = WeightedHeadsConfig>
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
    const sub = { rng: this.rng };
    const linear = (inFeatures: number, outFeatures: number) =>
      new Linear({ inFeatures, outFeatures, bias }, sub);
    // Same order as mha, so a shared seed draws the same attention weights.
    this.q = this.addModule('q', linear(dModel, numHeads * this.headDim));
    this.k = this.addModule('k', linear(dModel, this.numKvHeads * this.headDim));
    this.v = this.addModule('v', linear(dModel, this.numKvHeads * this.headDim));
    this.o = this.addModule('o', linear(numHeads * this.headDim, dModel));
    const norm = config.qkNorm;
    const qk = () => new QKNorm({ headDim: this.headDim, norm: norm! }, sub);
    this.qNorm = norm ? this.addModule('qNorm', qk()) : null;
    this.kNorm = norm ? this.addModule('kNorm', qk()) : null;
    this.sink = config.sinkLogit ? this.addParameter('sink', tf.zeros([numHeads])) : null;
  }

  /**
   * Weight of each head for each token, [batch, time, numHeads]. Called inside the forward's
   * tidy; a subclass adds its aux losses (tf.keep) and records its statistics here.
   */
  protected abstract headWeights(x: tf.Tensor3D, context: MixerContext): tf.Tensor3D;

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window });
  }

  /** Names of the attention parameters (those an `mha` of the same shape has). */
  attentionParameterNames(): string[] {
    return [...this.namedParameters().keys()].filter((n) =>
      /^(q|k|v|o|qNorm|kNorm)\.|^sink$/.test(n),
    );
  }

  /** [b, t, heads·d] -> [b, heads, t, d] */
  private splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
    const [b, t] = x.shape;
    return tf.transpose(tf.reshape(x, [b!, t!, heads, this.headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const { dModel, numHeads } = this.config;
    checkRank(block, 'x', x, 3);
    if (x.shape[2] !== dModel) {
      throw new ShapeError(
        block,
        'x',
        `last axis dModel=${dModel}`,
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
    if (cache && context.segmentIds) {
      throw new ConfigError(
        block,
        'context.segmentIds',
        'no segment ids while decoding with a cache',
        'segment ids',
      );
    }
    const [batch, time] = x.shape;
    const offset = cache ? cache.length : 0;
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
    const positional = context.positional;
    const causal = (this.config.causal ?? true) && (context.causal ?? true);
    const training = context.training ?? this.training;

    return tf.tidy(() => {
      const gates = this.headWeights(x, context);
      let q = this.splitHeads(this.q.forward(x), numHeads);
      let k = this.splitHeads(this.k.forward(x), this.numKvHeads);
      const v = this.splitHeads(this.v.forward(x), this.numKvHeads);
      if (this.qNorm) q = this.qNorm.forward(q) as tf.Tensor4D;
      if (this.kNorm) k = this.kNorm.forward(k) as tf.Tensor4D;
      let keyPositions = queryPositions;
      if (positional?.rotate) {
        const positions = tf.tensor1d(queryPositions, 'int32');
        q = positional.rotate(q, positions);
        k = positional.rotate(k, positions);
      }
      let keys = k;
      let values = v;
      if (cache) ({ keys, values, positions: keyPositions } = cache.append(k, v, queryPositions));
      const bias = positional?.bias?.(
        tf.tensor1d(queryPositions, 'int32'),
        tf.tensor1d(keyPositions, 'int32'),
        numHeads,
        q,
      );
      const dropout = training ? (this.config.dropout ?? 0) : 0;
      const { output, weights } = scaledDotProductAttention(q, keys, values, {
        causal,
        window: this.config.window,
        scale: (positional?.logitScale ?? 1) / Math.sqrt(this.headDim),
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
      // [b, t, H] -> [b, H, t, 1]: each head's output scaled per token (MoH eq. 3)
      const weighted = tf.mul(output, tf.expandDims(tf.transpose(gates, [0, 2, 1]), 3));
      const merged = tf.reshape(tf.transpose(weighted, [0, 2, 1, 3]), [
        batch,
        time,
        numHeads * this.headDim,
      ]);
      return this.o.forward(merged) as tf.Tensor3D;
    });
  }
}
