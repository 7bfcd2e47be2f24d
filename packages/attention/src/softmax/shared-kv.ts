import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, slotTensors, type KeyValuePrefix, type MixerContext } from '@attnkit/core';

export interface ProjectedKeysValues {
  keys: tf.Tensor4D;
  values: tf.Tensor4D;
  positions: number[];
  /** The mixer's own prefix (Hymba's meta tokens): shared with the keys, as the paper's cache. */
  prefix?: KeyValuePrefix;
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
    return { keys: slot.keys, values: slot.values, positions: slot.positions, prefix: slot.prefix };
  }
  const own = project();
  tf.dispose(slotTensors(slot));
  // Copies: a cache may replace its tensors (eviction) before the consumers run.
  const copy = (t: tf.Tensor4D) => tf.keep(tf.clone(t));
  slot.keys = copy(own.keys);
  slot.values = copy(own.values);
  slot.positions = [...own.positions];
  slot.prefix = own.prefix && { keys: copy(own.prefix.keys), values: copy(own.prefix.values) };
  return own;
}
