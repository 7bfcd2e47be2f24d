import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, type MixerContext } from '@attnkit/core';

export interface ProjectedKeysValues {
  keys: tf.Tensor4D;
  values: tf.Tensor4D;
  positions: number[];
}

/**
 * Keys and values under cross-layer KV sharing (Brandon et al. 2024, sec. 3; Hymba sec. 2.3):
 * without `context.sharedKeyValues`, `project()`; a producer projects and leaves a kept copy in
 * the group's slot; a consumer attends the slot's and projects nothing.
 */
export function sharedKeysValues(
  block: string,
  context: MixerContext,
  project: () => ProjectedKeysValues,
): ProjectedKeysValues {
  const share = context.sharedKeyValues;
  if (!share) return project();
  const { slot } = share;
  if (share.role === 'consume') {
    if (!slot.keys || !slot.values || !slot.positions) {
      const want = "the keys/values of the group's first layer";
      throw new ConfigError(block, 'context.sharedKeyValues.slot', want, 'an empty slot');
    }
    return { keys: slot.keys, values: slot.values, positions: slot.positions };
  }
  const own = project();
  tf.dispose([slot.keys!, slot.values!].filter(Boolean));
  // Copies: a cache may replace its tensors (eviction) before the consumers run.
  slot.keys = tf.keep(tf.clone(own.keys));
  slot.values = tf.keep(tf.clone(own.values));
  slot.positions = [...own.positions];
  return own;
}
