import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkDtype, checkRank, formatShape } from '@attnkit/core';

const BLOCK = 'mergeAttention';

/** A partial attention result: softmax attention over one subset of the keys. */
export interface AttentionPart {
  /** [batch, heads, tq, dv] */
  output: tf.Tensor4D;
  /** `[batch, heads, tq]`: log of the part's softmax denominator (-Infinity: no key seen). */
  logSumExp: tf.Tensor3D;
}

/**
 * Combines attention over disjoint key sets into attention over their union, from each
 * part's output and log-sum-exp (the online-softmax rescaling of Milakov & Gimelshein 2018,
 * eq. 4; FlashAttention's block combine, Dao et al. 2022, Algorithm 1 line 12):
 *
 *   lse = log Σ_i exp(lse_i),   o = Σ_i exp(lse_i - lse) · o_i.
 *
 * A part with lse_i = -Infinity contributes nothing (whatever its output holds); rows where
 * every part is -Infinity give output 0 and lse -Infinity. Gradients stay finite there too.
 */
export function mergeAttention(parts: readonly AttentionPart[]): AttentionPart {
  validate(parts);
  return tf.tidy(() => {
    const lses = tf.stack(parts.map((p) => p.logSumExp)); // [n, b, h, tq]
    const max = tf.max(lses, 0);
    // A finite shift: rows where every part is empty shift by 0, so no -Inf - -Inf.
    const shift = tf.where(tf.isFinite(max), max, tf.zerosLike(max));
    const weights = tf.exp(tf.sub(lses, shift)); // 0 for empty parts
    const total = tf.sum(weights, 0);
    // The max part adds exp(0) = 1 to a row that any part saw (greaterEqual has a gradient).
    const seen = tf.greaterEqual(total, 0.5);
    const safeTotal = tf.where(seen, total, tf.onesLike(total));
    const logSumExp = tf.where(
      seen,
      tf.add(shift, tf.log(safeTotal)),
      tf.fill(total.shape, -Infinity),
    ) as tf.Tensor3D;
    let acc: tf.Tensor = tf.zerosLike(parts[0]!.output);
    parts.forEach((part, i) => {
      const w = tf.expandDims(tf.div(tf.squeeze(tf.slice(weights, i, 1), [0]), safeTotal), -1);
      // An empty part's output is masked before the product, so whatever it holds (even NaN)
      // reaches neither the output nor a gradient.
      const used = tf.broadcastTo(
        tf.expandDims(tf.isFinite(part.logSumExp), -1),
        part.output.shape,
      );
      acc = tf.add(acc, tf.mul(tf.where(used, part.output, tf.zerosLike(part.output)), w));
    });
    return { output: acc as tf.Tensor4D, logSumExp };
  });
}

function validate(parts: readonly AttentionPart[]): void {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new ShapeError(
      BLOCK,
      'parts',
      'a non-empty array of { output, logSumExp }',
      Array.isArray(parts) ? 'an empty array' : typeof parts,
    );
  }
  const first = parts[0]!.output;
  parts.forEach((part, i) => {
    const { output, logSumExp } = part ?? ({} as AttentionPart);
    if (!(output instanceof tf.Tensor) || !(logSumExp instanceof tf.Tensor)) {
      throw new ShapeError(BLOCK, `parts[${i}]`, 'tensors output and logSumExp', 'missing ones');
    }
    checkRank(BLOCK, `parts[${i}].output`, output, 4);
    checkRank(BLOCK, `parts[${i}].logSumExp`, logSumExp, 3);
    checkDtype(BLOCK, `parts[${i}].output`, output, ['float32']);
    checkDtype(BLOCK, `parts[${i}].logSumExp`, logSumExp, ['float32']);
    if (!tf.util.arraysEqual(output.shape, first.shape)) {
      throw new ShapeError(
        BLOCK,
        `parts[${i}].output`,
        `shape ${formatShape(first.shape)} (as parts[0])`,
        `shape ${formatShape(output.shape)}`,
      );
    }
    if (!tf.util.arraysEqual(logSumExp.shape, first.shape.slice(0, 3))) {
      throw new ShapeError(
        BLOCK,
        `parts[${i}].logSumExp`,
        `shape ${formatShape(first.shape.slice(0, 3))} (output without its last axis)`,
        `shape ${formatShape(logSumExp.shape)}`,
      );
    }
  });
}
