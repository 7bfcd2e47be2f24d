import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, MASK_NEGATIVE, checkInt, gatherRows } from '@attnkit/core';
import { repeatKvHeads, validateAttention } from './validate';

/**
 * NSA's compressed branch (Yuan et al. 2025, sec. 3.3.1, eq. 7-8): q [b, h, tq, d] attends to
 * compressed keys/values [b, kvh, n, d], one per block i of `blockSize` keys from i·stride (stride
 * default blockSize); block i is visible to the query at position p once complete, i·stride + B − 1 <= p. Queries sit at
 * positions queryOffset, ... Returns the output (0 for a query that sees no block yet) and the
 * attention scores p_t^cmp [b, h, tq, n] (eq. 8), which rank the blocks for selection.
 */
export function compressedAttention(
  q: tf.Tensor4D,
  keys: tf.Tensor4D,
  values: tf.Tensor4D,
  options: { blockSize: number; stride?: number; queryOffset: number; scale?: number },
): { output: tf.Tensor4D; scores: tf.Tensor4D } {
  const block = 'compressedAttention';
  const geo = validateAttention(q, keys, values, {}, block);
  checkInt(block, 'blockSize', options.blockSize, 1);
  checkInt(block, 'queryOffset', options.queryOffset, 0);
  const { queryLength: tq, keyLength: n, heads: h } = geo;
  const B = options.blockSize;
  const stride = options.stride ?? B;
  checkInt(block, 'stride', stride, 1);
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const rep = (x: tf.Tensor4D) => repeatKvHeads(x, h);
    const visible = Array.from({ length: tq * n }, (_, i) =>
      (i % n) * stride + B - 1 <= options.queryOffset + Math.floor(i / n) ? 0 : MASK_NEGATIVE,
    );
    const logits = tf.add(
      tf.matMul(tf.mul(q, scale), rep(keys), false, true),
      tf.tensor2d(visible, [tq, n]),
    );
    const max = tf.max(logits, -1, true);
    const seen = tf.cast(tf.greaterEqual(max, MASK_NEGATIVE / 2), 'float32');
    const e = tf.exp(tf.sub(logits, max));
    const scores = tf.mul(tf.div(e, tf.sum(e, -1, true)), seen) as tf.Tensor4D;
    return { output: tf.matMul(scores, rep(values)) as tf.Tensor4D, scores };
  });
}

/**
 * Causal sliding-window attention by gathering, for each query at position p, the keys
 * p − window + 1 .. p (NSA's sliding branch, sec. 3.3.3): logits [tq, window], never [tq, tk].
 * Queries are the last tq positions of the keys (end-aligned, as a decoding step).
 */
export function windowAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: { window: number; scale?: number },
): tf.Tensor4D {
  const block = 'windowAttention';
  const geo = validateAttention(q, k, v, {}, block);
  checkInt(block, 'window', options.window, 1);
  const {
    batch: b,
    heads: h,
    kvHeads,
    queryLength: tq,
    keyLength: tk,
    headDim: d,
    valueDim: dv,
  } = geo;
  if (tq > tk) throw new ConfigError(block, 'q', `at most tk=${tk} queries`, String(tq));
  const w = options.window;
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const group = h / kvHeads;
    const ids: number[] = [];
    const bias: number[] = [];
    for (let r = 0; r < b * h; r++) {
      const base = (Math.floor(r / h) * kvHeads + Math.floor((r % h) / group)) * tk;
      for (let i = 0; i < tq; i++) {
        const p = tk - tq + i;
        for (let j = 0; j < w; j++) {
          const pos = p - w + 1 + j;
          ids.push(base + Math.max(pos, 0));
          bias.push(pos >= 0 ? 0 : MASK_NEGATIVE);
        }
      }
    }
    const index = tf.tensor1d(ids, 'int32');
    const rows = b * h * tq;
    const keys = tf.reshape(gatherRows(tf.reshape(k, [-1, d]) as tf.Tensor2D, index), [rows, w, d]);
    const values = tf.reshape(gatherRows(tf.reshape(v, [-1, dv]) as tf.Tensor2D, index), [
      rows,
      w,
      dv,
    ]);
    const logits = tf.add(
      tf.matMul(tf.reshape(tf.mul(q, scale), [rows, 1, d]), keys, false, true),
      tf.tensor3d(bias, [rows, 1, w]),
    );
    // The query's own key is always in its window: every row sees a key.
    return tf.reshape(tf.matMul(tf.softmax(logits), values), [b, h, tq, dv]) as tf.Tensor4D;
  });
}
