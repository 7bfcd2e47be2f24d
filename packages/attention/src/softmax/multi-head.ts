import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkRank,
  formatShape,
  type FusedDecoderAttention,
  type FusedDecodingContext,
  type IncrementalState,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
  validateConfig,
} from '@attnkit/core';
import { scaledDotProductAttention } from '../ops/sdpa';
import { KVCache } from '../cache/kv-cache';
import type { AttentionConfig } from './config';
import {
  checkMixerInput,
  inputPositions,
  refuseSegmentsWhileDecoding,
  reportWeights,
} from './heads';
import { ProjectedAttention, headLayout } from './projected';
import { checkNormalizerOption } from '../ops/normalizer-option';
import { withBand } from '../ops/band-mask';
import { sharedKeysValues } from './shared-kv';

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

  /** Cross-attention reads a fixed memory: never causal, no state of its own, no rotary/bias. */
  override get capabilities(): MixerCapabilities {
    const softmax = (this.config.normalizer ?? 'softmax') === 'softmax';
    const caps = {
      ...super.capabilities,
      keyValuePrefix: softmax,
      sharedKeyValues: !this.isCross,
      blockAttention: !this.isCross,
    };
    // Never causal (config causal: false): nothing to decode token by token.
    if (this.config.causal === false) Object.assign(caps, { decoding: false, stateGrowth: 'none' });
    if (!this.isCross) return caps;
    return { ...caps, causal: 'never', decoding: false, stateGrowth: 'none', positional: [] };
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window, sinkTokens: this.config.numSinkTokens });
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const cache = checkMixerInput(
      block,
      x,
      this.config.dModel,
      context,
      KVCache,
      this.capabilities,
    );
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
    // Block-Attention prefills an empty cache with its blocks; later tokens continue the last.
    if (!(context.blockAttention && cache?.length === 0)) {
      refuseSegmentsWhileDecoding(block, cache, context);
    }
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
      } = sharedKeysValues(block, context, () =>
        this.projectKeysValues(
          source,
          this.isCross ? [...Array(source.shape[1]).keys()] : queryPositions,
          positional,
          this.isCross ? undefined : cache,
        ),
      );
      const dropout = training ? (this.config.dropout ?? 0) : 0;
      const logits = this.logitOptions(q, positional, context, queryPositions, keyPositions);
      // Without causality a window is Longformer's band (sec. 3.1): ⌊window/2⌋ keys each side.
      const { window } = this.config;
      const band = !causal && !this.isCross && window !== undefined;
      if (band) logits.mask = withBand(logits.mask, queryPositions, keyPositions, window >> 1);
      const { output, weights } = scaledDotProductAttention(q, keys, values, {
        ...logits,
        causal,
        window: this.isCross || band ? undefined : window,
        sinkTokens: this.config.numSinkTokens,
        logitSoftcap: this.config.logitSoftcap,
        sinkLogit: this.sink ?? undefined,
        dropout,
        seed: dropout > 0 ? this.rng.nextUint32() : undefined,
        ...this.weightsOptions(context),
        prefix: context.prefix,
        normalizer: this.config.normalizer,
      });
      if (weights) reportWeights(block, context, weights);
      if (cache) cache.evict();
      return this.mergeAndProject(output, context.heads);
    });
  }

  /**
   * Its part of a fused decoder's spec (contract 7): causal self-attention with grouped heads,
   * a window and sinks; refused with cross-attention, qkNorm, soft-capping, a sink logit, or
   * heads other than the rotary encoding's (which the unfused path refuses too).
   */
  fusedDecoding(context: FusedDecodingContext): FusedDecoderAttention | string {
    const { path, logitScale, rotaryHeadDim } = context;
    const c = this.config;
    if (c.type === 'cross-attention')
      return `${path} '${this.blockName}' is not mha, gqa, mqa, sliding-window or streaming`;
    if (c.qkNorm || c.logitSoftcap !== undefined || c.sinkLogit)
      return `${path} uses qkNorm, logitSoftcap or sinkLogit`;
    if ((c.normalizer ?? 'softmax') !== 'softmax')
      return `${path} normalizes with '${c.normalizer}', not softmax`;
    if (rotaryHeadDim !== undefined && this.headDim !== rotaryHeadDim)
      return `${path}'s headDim differs from the rotary headDim=${rotaryHeadDim}`;
    return {
      numHeads: c.numHeads,
      numKvHeads: this.numKvHeads,
      headDim: this.headDim,
      scale: logitScale / Math.sqrt(this.headDim),
      window: c.window,
      sinkTokens: c.numSinkTokens,
      q: this.q.fusedDecoding(),
      k: this.k.fusedDecoding(),
      v: this.v.fusedDecoding(),
      o: this.o.fusedDecoding(),
    };
  }
}
