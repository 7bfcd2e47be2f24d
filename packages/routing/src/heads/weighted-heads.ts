import * as tf from '@tensorflow/tfjs-core';
import {
  offTape,
  type IncrementalState,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import {
  KVCache,
  ProjectedAttention,
  checkMixerInput,
  checkNormalizerOption,
  inputPositions,
  refuseSegmentsWhileDecoding,
  scaledDotProductAttention,
  type AttentionConfig,
} from '@attnkit/attention';

/** Attention fields a head-weighted mixer accepts (those of `mha`, without sink tokens). */
export type WeightedHeadsConfig = Omit<AttentionConfig, 'numSinkTokens'>;

/**
 * Multi-head attention in the summation form y_t = Σ_i g_i(t) · H^i_t W_O^i (Jin et al. 2024,
 * MoH eqs. 2-3): every head's output is scaled by a per-token weight before the output
 * projection. With g ≡ 1 this is plain multi-head attention; subclasses supply g (MoH, MoA).
 * Parameter names (q, k, v, o, qNorm, kNorm, sink) match `mha`, so its weights load as they are.
 * Where heads are routed (`sparseHeads`), the heads a token does not use are passed to the
 * attention as a row mask: a backend's fused kernel skips them (forward and backward), the
 * composite forms compute and zero them. The projections are always dense.
 */
export abstract class WeightedHeadsAttention<C extends WeightedHeadsConfig = WeightedHeadsConfig>
  extends ProjectedAttention<C>
  implements TokenMixer
{
  readonly sink: tf.Variable | null;

  constructor(config: C, options: ModuleOptions = {}) {
    checkNormalizerOption(config.type, config);
    // Same parameters in the same order as mha, so a shared seed draws the same weights.
    super(config, options);
    this.sink = config.sinkLogit ? this.addParameter('sink', tf.zeros([config.numHeads])) : null;
  }

  /**
   * Weight of each head for each token, [batch, time, numHeads]. Called inside the forward's
   * tidy; a subclass adds its aux losses (tf.keep) and records its statistics here.
   */
  protected abstract headWeights(x: tf.Tensor3D, context: MixerContext): tf.Tensor3D;

  /**
   * Whether many head weights are exactly 0 (routed heads): the attention then gets a row mask,
   * and a backend's fused kernel computes only the (head, token) rows that are used.
   */
  protected get sparseHeads(): boolean {
    return false;
  }

  /** Attends through scaledDotProductAttention, so it takes a key/value prefix too. */
  override get capabilities(): MixerCapabilities {
    const softmax = (this.config.normalizer ?? 'softmax') === 'softmax';
    return { ...super.capabilities, keyValuePrefix: softmax };
  }

  initState(_batch: number): IncrementalState {
    return new KVCache({ window: this.config.window });
  }

  /** Names of the attention parameters (those an `mha` of the same shape has). */
  attentionParameterNames(): string[] {
    return [...this.namedParameters().keys()].filter((n) =>
      /^(q|k|v|o|qNorm|kNorm)\.|^sink$/.test(n),
    );
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
    refuseSegmentsWhileDecoding(block, cache, context);
    const queryPositions = inputPositions(block, context, x.shape[1], cache ? cache.length : 0);
    const positional = context.positional;
    const causal = this.isCausal(context);
    const training = context.training ?? this.training;

    return tf.tidy(() => {
      const gates = this.headWeights(x, context);
      const { q, keys, values, keyPositions } = this.projectSelf(
        x,
        queryPositions,
        positional,
        cache,
      );
      const dropout = training ? (this.config.dropout ?? 0) : 0;
      const { output, weights } = scaledDotProductAttention(q, keys, values, {
        ...this.logitOptions(q, positional, context, queryPositions, keyPositions),
        causal,
        window: this.config.window,
        logitSoftcap: this.config.logitSoftcap,
        sinkLogit: this.sink ?? undefined,
        dropout,
        seed: dropout > 0 ? this.rng.nextUint32() : undefined,
        ...this.weightsOptions(context),
        prefix: context.prefix,
        normalizer: this.config.normalizer,
        rowMask: this.sparseHeads ? usedRows(gates) : undefined,
      });
      if (weights) context.attentionHook!({ block, path: context.path ?? '', weights });
      if (cache) cache.evict();
      // [b, t, H] -> [b, H, t, 1]: each head's output scaled per token (MoH eq. 3)
      return this.mergeAndProject(
        tf.mul(output, tf.expandDims(tf.transpose(gates, [0, 2, 1]), 3)) as tf.Tensor4D,
      );
    });
  }
}

/** [b, t, H] weights -> [b, H, t] 1 where a weight is not 0; a constant to autodiff. */
function usedRows(gates: tf.Tensor3D): tf.Tensor3D {
  return offTape(
    () => tf.cast(tf.notEqual(tf.transpose(gates, [0, 2, 1]), 0), 'float32') as tf.Tensor3D,
  );
}
