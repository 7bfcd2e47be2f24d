import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkDtype,
  checkRank,
  formatShape,
  maskToAdditive,
  type PositionalEncoding,
} from '@attnkit/core';

/**
 * Block-Attention (Sun et al. 2024, "Block-Attention for Efficient Prefilling", sec. 2.1):
 * a token attends only within its block, except the row's last block (the user query, the
 * segment of the row's last key), which attends to every block. Boolean [batch, 1, tq, tk];
 * combine with the causal mask as usual.
 */
export function blockAttentionMask(
  querySegments: tf.Tensor2D,
  keySegments: tf.Tensor2D = querySegments,
): tf.Tensor4D {
  const block = 'blockAttentionMask';
  checkRank(block, 'querySegments', querySegments, 2);
  checkRank(block, 'keySegments', keySegments, 2);
  checkDtype(block, 'querySegments', querySegments, ['int32']);
  checkDtype(block, 'keySegments', keySegments, ['int32']);
  const [b, tq] = querySegments.shape;
  const tk = keySegments.shape[1];
  if (keySegments.shape[0] !== b || tk === 0) {
    throw new ShapeError(
      block,
      'keySegments',
      `shape [${b}, >=1] (batch as querySegments)`,
      `shape ${formatShape(keySegments.shape)}`,
    );
  }
  return tf.tidy(() => {
    const q = tf.reshape(querySegments, [b, 1, tq, 1]);
    const k = tf.reshape(keySegments, [b, 1, 1, tk]);
    const last = tf.reshape(tf.slice(keySegments, [0, tk - 1], [b, 1]), [b, 1, 1, 1]);
    return tf.logicalOr(tf.equal(q, k), tf.equal(q, last)) as tf.Tensor4D;
  });
}

/** `mask` (boolean, additive or none) narrowed to the block mask of `segments`; same kind as `mask`. */
export function withBlockAttention(mask: tf.Tensor | undefined, segments: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const blocks = blockAttentionMask(segments);
    if (!mask) return blocks;
    return mask.dtype === 'bool'
      ? tf.logicalAnd(mask, blocks)
      : tf.add(mask, maskToAdditive(blocks));
  });
}

/**
 * Block-Attention's position re-encoding (Sun et al. 2024, sec. 2.2): keys encoded at positions
 * p are moved to p + offset. RoPE rotates by an angle linear in the position, so
 * R(p + offset)·k = R(offset)·R(p)·k: rotating the cached keys by `offset` is encoding them at
 * their new positions. Keys of a bias or no encoding carry no position (returned as a copy);
 * an `embed` encoding is in the hidden states and cannot be moved (ConfigError).
 * `keys` is [batch, kvHeads, time, headDim]; the result is new.
 */
export function shiftKeyPositions(
  keys: tf.Tensor4D,
  positional: PositionalEncoding | undefined,
  offset: number,
): tf.Tensor4D {
  const block = 'shiftKeyPositions';
  checkRank(block, 'keys', keys, 4);
  if (!Number.isInteger(offset)) {
    throw new ConfigError(block, 'offset', 'an integer', String(offset));
  }
  const kind = positional?.kind ?? 'none';
  if (kind === 'embed') {
    throw new ConfigError(
      block,
      'positional',
      "a 'rotate', 'bias' or 'none' encoding (keys re-encodable)",
      "'embed' (positions are in the hidden states)",
    );
  }
  if (kind !== 'rotate') return tf.clone(keys);
  return tf.tidy(() =>
    positional!.rotate!(keys, tf.fill([keys.shape[2]], offset, 'int32') as tf.Tensor1D),
  );
}
