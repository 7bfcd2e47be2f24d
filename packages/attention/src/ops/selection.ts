import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape } from '@attnkit/core';

const BLOCK = 'selectionPenalty';

export interface SelectionResult {
  /** F [batch, 1, tq, tk]: what to subtract from every head's logits. */
  penalty: tf.Tensor4D;
  /** Σ over all queries so far of S [batch, tk]: the state for the next call. */
  total: tf.Tensor2D;
}

/**
 * Selective attention (Leviathan et al. 2024, sec. 2): a token masks away earlier tokens it
 * deems irrelevant for every later one. From one head's logits,
 *
 *   S[i, j] = ReLU(logits[i, j]) where query i sees key j, 0 for the first token (position 0)
 *             and for the token itself (j = i);
 *   F[i, j] = Σ_{i' < i} S[i', j]   (accumulated over strictly earlier queries),
 *
 * and softmax(logits - F) replaces softmax(logits). Queries are consecutive tokens;
 * `initial` [batch, tkPrev] carries Σ S of the tokens before this call (its keys are the
 * first tkPrev keys), so decoding in steps equals one pass.
 */
export function selectionPenalty(
  selectLogits: tf.Tensor3D,
  queryPositions: number[],
  keyPositions: number[],
  keep?: tf.Tensor,
  initial?: tf.Tensor2D,
): SelectionResult {
  checkRank(BLOCK, 'selectLogits', selectLogits, 3);
  const [b, tq, tk] = selectLogits.shape;
  if (queryPositions.length !== tq || keyPositions.length !== tk) {
    throw new ShapeError(
      BLOCK,
      'positions',
      `${tq} query and ${tk} key positions`,
      `${queryPositions.length} and ${keyPositions.length}`,
    );
  }
  if (initial && (initial.rank !== 2 || initial.shape[0] !== b || initial.shape[1]! > tk)) {
    throw new ShapeError(
      BLOCK,
      'initial',
      `shape [${b},<=${tk}]`,
      `shape ${formatShape(initial.shape)}`,
    );
  }
  return tf.tidy(() => {
    const qp = tf.tensor2d(queryPositions, [tq, 1], 'int32');
    const kp = tf.tensor2d(keyPositions, [1, tk], 'int32');
    // Never select away the first token or the query's own token.
    let allowed: tf.Tensor = tf.logicalAnd(tf.notEqual(kp, 0), tf.notEqual(kp, qp));
    if (keep) allowed = tf.logicalAnd(allowed, tf.reshape(keep, [-1, tq, tk]));
    const s = tf.where(
      tf.broadcastTo(allowed, [b, tq, tk]),
      tf.relu(selectLogits),
      tf.zerosLike(selectLogits),
    );
    const before = initial
      ? tf.pad(initial, [
          [0, 0],
          [0, tk - initial.shape[1]],
        ])
      : tf.zeros([b, tk]);
    // Cumulative sum over queries on the last axis: tfjs' cumsum gradient mis-permutes other axes.
    const exclusive = tf.transpose(tf.cumsum(tf.transpose(s, [0, 2, 1]), 2, true), [0, 2, 1]);
    const earlier = tf.add(exclusive, tf.reshape(before, [b, 1, tk]));
    return {
      penalty: tf.reshape(earlier, [b, 1, tq, tk]) as tf.Tensor4D,
      total: tf.add(before, tf.sum(s, 1)) as tf.Tensor2D,
    };
  });
}
