import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { IncrementalState, MixerCapabilities, MixerContext, TokenMixer } from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { scaledDotProductAttention } from '../ops/sdpa';
import {
  gatherAttention,
  headPattern,
  headPatternMask,
  type HeadPattern,
} from '../ops/head-pattern';
import { mixerInput } from '../softmax/heads';
import { ProjectedAttention, type ProjectionConfig } from '../softmax/projected';

/**
 * 'gather' (default) attends only to each head's listed keys; 'dense' applies the same pattern
 * as a mask to full attention: the exact O(T²) reference the gather path is tested against.
 */
export const patternForm = z.enum(['gather', 'dense']).optional();

export type PatternConfig = ProjectionConfig & { form?: 'gather' | 'dense' };

/**
 * Causal self-attention whose heads see different key sets, fixed by token index (not by
 * context.positions, which only rotate q and k): a subclass says which keys head h's query at
 * index i sees; this base projects, caches every key and attends through `gatherAttention`
 * (or its dense reference). Decoding keeps the whole cache, so cached == full.
 */
export abstract class HeadPatternAttention<C extends PatternConfig>
  extends ProjectedAttention<C>
  implements TokenMixer
{
  /** Key indices (0..i) head `head`'s query at token index `i` attends to. */
  protected abstract keysOf(head: number, i: number): Iterable<number>;

  /** Causal only; no masks, segments, prefix or weights map; rotary, not bias. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'linear',
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): IncrementalState {
    return new KVCache();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      KVCache,
      this.training,
      this.capabilities,
    );
    const cache = input.state;
    const before = cache ? cache.length : 0;
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(
        x,
        input.queryPositions,
        context.positional,
        cache,
      );
      const tk = keys.shape[2];
      const pattern = headPattern(block, this.config.numHeads, input.time, tk, (h, i) =>
        this.keysOf(h, before + i),
      );
      const output = this.attend(q, keys, values, pattern);
      return this.mergeAndProject(output, context.heads);
    });
  }

  /** The pattern's attention, by the configured form. */
  protected attend(
    q: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    pattern: HeadPattern,
  ): tf.Tensor4D {
    if ((this.config.form ?? 'gather') === 'gather') {
      return gatherAttention(q, keys, values, pattern).output;
    }
    const mask = headPatternMask(pattern, keys.shape[2]);
    return scaledDotProductAttention(q, keys, values, { mask }).output;
  }
}

/** Indices lo..hi (inclusive, clipped at 0). */
export function* span(lo: number, hi: number): Generator<number> {
  for (let j = Math.max(0, lo); j <= hi; j++) yield j;
}
