import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { MixerCapabilities, MixerContext, TokenMixer } from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { attentionFields } from '../softmax/config';
import { checkMixerInput, inputPositions } from '../softmax/heads';
import { ProjectedAttention, type ProjectionConfig } from '../softmax/projected';

const positive = z.number().int().positive();
const { dModel, numHeads, headDim, bias, qkNorm, causal } = attentionFields;

/** Fields the score-selection mixers share: the projections' layout and causality. */
export const selectionFields = {
  dModel,
  numHeads,
  numKvHeads: positive.optional(),
  headDim,
  bias,
  qkNorm,
  causal,
  /** Keys scored per step by the sparse path (default 64). */
  chunkSize: positive.optional(),
};

/** What a subclass's attention sees besides q, k and v [b, heads, t, d]. */
export interface SelectionCall {
  causal: boolean;
  /** Logit multiplier: the encoding's logit scale over √headDim. */
  scale: number;
  /** Absolute positions of the queries (the first is the state's length when decoding). */
  queryPositions: number[];
  context: MixerContext;
}

/**
 * Base of the mixers that attend each query to keys chosen by score (top-k, Top-θ, Loki):
 * q/k/v/o projections, rotary encodings, a KV cache for decoding (cached == full: a query's
 * selection depends only on it and the keys it sees), head control. Masks, segment ids, logit
 * biases and key/value prefixes are refused: the selection would have to see them.
 */
export abstract class ScoreSelectionAttention<C extends ProjectionConfig>
  extends ProjectedAttention<C>
  implements TokenMixer
{
  /** What the attention hook receives: the selected keys' weights, or nothing. */
  protected abstract readonly weightsKind: 'selected' | 'none';

  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: this.weightsKind,
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): KVCache {
    return new KVCache();
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
    const queryPositions = inputPositions(block, context, x.shape[1], cache ? cache.length : 0);
    const causal = this.isCausal(context);
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, queryPositions, context.positional, cache);
      const scale = (context.positional?.logitScale ?? 1) / Math.sqrt(this.headDim);
      const heads = this.attend(q, keys, values, { causal, scale, queryPositions, context });
      return this.mergeAndProject(heads, context.heads);
    });
  }

  /**
   * x [b, t, dModel] (positions 0..t-1, no positional encoding) -> queries [b, h, t, d] and
   * keys [b, kvHeads, t, d]: what calibration methods look at.
   */
  protected calibrationHeads(block: string, x: tf.Tensor3D): { q: tf.Tensor4D; keys: tf.Tensor4D } {
    checkMixerInput(block, x, this.config.dModel, {}, KVCache);
    const positions = Array.from({ length: x.shape[1] }, (_, i) => i);
    const { q, keys } = this.projectSelf(x, positions, undefined);
    return { q, keys };
  }

  /** q [b, h, tq, d], keys/values [b, kvHeads, tk, ·] (every cached one) -> [b, h, tq, dv]. */
  protected abstract attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    call: SelectionCall,
  ): tf.Tensor4D;
}
