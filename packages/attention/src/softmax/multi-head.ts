import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkRank,
  formatShape,
  type IncrementalState,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
  validateConfig,
} from '@attnkit/core';
import { scaledDotProductAttention } from '../ops/sdpa';
import { KVCache } from '../cache/kv-cache';
import type { AttentionConfig } from './config';
import { checkMixerInput, inputPositions, refuseSegmentsWhileDecoding } from './heads';
import { ProjectedAttention, headLayout } from './projected';
import { checkNormalizerOption } from '../ops/normalizer-option';

/**
 * Multi-head attention (Vaswani et al. 2017, sec. 3.2.2): project to heads, attend,
 * merge, project out. Grouped-query (Ainslie et al. 2023) when numKvHeads < numHeads;
 * the positional encoding comes from the context. Subclasses only fix the config.
 */
export class MultiHeadAttention<C extends AttentionConfig = AttentionConfig>
  extends ProjectedAttention<C>
  implements TokenMixer
{
  readonly sink: tf.Variable | null;

  constructor(config: C, options: ModuleOptions = {}) {
    // One class, several registered types (mha, gqa, mqa, ...): parse with its type's schema.
    config = validateConfig<C>(config);
    checkNormalizerOption(config.type, config);
    super(
      config,
      options,
      headLayout(config.type === 'mqa' ? { ...config, numKvHeads: 1 } : config),
    );
    this.sink = config.sinkLogit ? this.addParameter('sink', tf.zeros([config.numHeads])) : null;
  }

  /** Cross-attention reads keys and values from context.memory. */
  protected get isCross(): boolean {
    return false;
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window, sinkTokens: this.config.numSinkTokens });
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const cache = checkMixerInput(block, x, this.config.dModel, context, KVCache);
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
    refuseSegmentsWhileDecoding(block, cache, context);
    const offset = cache && !this.isCross ? cache.length : 0;
    const queryPositions = inputPositions(block, context, x.shape[1], offset);
    const positional = this.isCross ? undefined : context.positional;
    const causal = !this.isCross && this.isCausal(context);
    const training = context.training ?? this.training;

    return tf.tidy(() => {
      const q = this.projectQueries(x, queryPositions, positional);
      const {
        keys,
        values,
        positions: keyPositions,
      } = this.projectKeysValues(
        source,
        this.isCross ? [...Array(source.shape[1]).keys()] : queryPositions,
        positional,
        this.isCross ? undefined : cache,
      );
      const dropout = training ? (this.config.dropout ?? 0) : 0;
      const { output, weights } = scaledDotProductAttention(q, keys, values, {
        ...this.logitOptions(q, positional, context, queryPositions, keyPositions),
        causal,
        window: this.isCross ? undefined : this.config.window,
        sinkTokens: this.config.numSinkTokens,
        logitSoftcap: this.config.logitSoftcap,
        sinkLogit: this.sink ?? undefined,
        dropout,
        seed: dropout > 0 ? this.rng.nextUint32() : undefined,
        chunkSize: this.config.chunkSize,
        normalizer: this.config.normalizer,
        returnWeights: context.attentionHook !== undefined && this.config.chunkSize === undefined,
      });
      if (weights) context.attentionHook!({ block, weights });
      if (cache) cache.evict();
      return this.mergeAndProject(output);
    });
  }
}
