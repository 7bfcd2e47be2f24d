import * as tf from '@tensorflow/tfjs-core';
import { checkInt, checkRank } from '../checks';
import { ShapeError, formatShape } from '../errors';
import { broadcastShapes, checkFloat } from './tensor-checks';

/**
 * Boolean attention masks: `true` means "may attend". Shapes broadcast against
 * logits `[batch, heads, tq, tk]`; combine them with `combineMasks`.
 */

/** Additive value for masked logits: finite, so a fully masked row gives a uniform row, not NaN. */
export const MASK_NEGATIVE = -1e9;

function positionGrid(
  queryLength: number,
  keyLength: number,
  offset: number,
): { q: tf.Tensor2D; k: tf.Tensor2D } {
  const q = tf.reshape(tf.add(tf.range(0, queryLength, 1, 'int32'), offset), [
    queryLength,
    1,
  ]) as tf.Tensor2D;
  const k = tf.reshape(tf.range(0, keyLength, 1, 'int32'), [1, keyLength]) as tf.Tensor2D;
  return { q, k };
}

export interface PositionMaskOptions {
  /** Also queryPosition - keyPosition < window (sliding window). */
  window?: number;
  /** With a window: keys at positions < sinkTokens stay visible past it (StreamingLLM, Xiao et al. 2023). */
  sinkTokens?: number;
}

/**
 * [tq, tk] causal mask from absolute positions: key j is visible to query i when
 * kp[j] <= qp[i] and, with a window, qp[i] - kp[j] < window or kp[j] < sinkTokens.
 * Positions are plain numbers (any order, gaps allowed), so decoding reads nothing back.
 */
export function positionMask(
  queryPositions: number[],
  keyPositions: number[],
  options: PositionMaskOptions = {},
): tf.Tensor2D {
  const block = 'positionMask';
  for (const [name, list] of [
    ['queryPositions', queryPositions],
    ['keyPositions', keyPositions],
  ] as const) {
    const bad = list.findIndex((p) => !Number.isInteger(p));
    if (bad >= 0) checkInt(block, `${name}[${bad}]`, list[bad], Number.MIN_SAFE_INTEGER);
  }
  if (options.window !== undefined) checkInt(block, 'window', options.window, 1);
  if (options.sinkTokens !== undefined) checkInt(block, 'sinkTokens', options.sinkTokens, 0);
  return tf.tidy(() => {
    const q = tf.tensor2d(queryPositions, [queryPositions.length, 1], 'int32');
    const k = tf.tensor2d(keyPositions, [1, keyPositions.length], 'int32');
    return causalAndWindow(q, k, options);
  });
}

/** The rule of positionMask on [tq, 1] and [1, tk] int32 position grids. */
function causalAndWindow(q: tf.Tensor, k: tf.Tensor, options: PositionMaskOptions): tf.Tensor2D {
  const causal = tf.lessEqual(k, q);
  if (options.window === undefined) return causal as tf.Tensor2D;
  let recent = tf.less(tf.sub(q, k), options.window);
  if ((options.sinkTokens ?? 0) > 0) recent = tf.logicalOr(recent, tf.less(k, options.sinkTokens!));
  return tf.logicalAnd(causal, recent) as tf.Tensor2D;
}

/** `[tq, tk]`: query i sits at absolute position offset + i and sees keys j <= offset + i. */
export function causalMask(
  queryLength: number,
  keyLength: number,
  offset = keyLength - queryLength,
): tf.Tensor2D {
  checkInt('causalMask', 'queryLength', queryLength, 0);
  checkInt('causalMask', 'keyLength', keyLength, 0);
  checkInt('causalMask', 'offset', offset, Number.MIN_SAFE_INTEGER);
  return tf.tidy(() => {
    const { q, k } = positionGrid(queryLength, keyLength, offset);
    return causalAndWindow(q, k, {});
  });
}

/** `[tq, tk]`: causal and within the last `window` positions (offset + i - j < window). */
export function slidingWindowMask(
  queryLength: number,
  keyLength: number,
  window: number,
  offset = keyLength - queryLength,
): tf.Tensor2D {
  checkInt('slidingWindowMask', 'window', window, 1);
  checkInt('slidingWindowMask', 'queryLength', queryLength, 0);
  checkInt('slidingWindowMask', 'keyLength', keyLength, 0);
  checkInt('slidingWindowMask', 'offset', offset, Number.MIN_SAFE_INTEGER);
  return tf.tidy(() => {
    const { q, k } = positionGrid(queryLength, keyLength, offset);
    return causalAndWindow(q, k, { window });
  });
}

/** `[batch, 1, 1, tk]`: key j of sequence b is real when j < lengths[b]. */
export function paddingMask(lengths: number[] | tf.Tensor1D, keyLength: number): tf.Tensor4D {
  checkInt('paddingMask', 'keyLength', keyLength, 0);
  if (Array.isArray(lengths)) {
    lengths.forEach((n, i) => checkInt('paddingMask', `lengths[${i}]`, n, 0));
  } else {
    checkRank('paddingMask', 'lengths', lengths, 1);
  }
  return tf.tidy(() => {
    const lens = Array.isArray(lengths) ? tf.tensor1d(lengths, 'int32') : tf.cast(lengths, 'int32');
    const keys = tf.range(0, keyLength, 1, 'int32');
    const mask = tf.less(tf.reshape(keys, [1, keyLength]), tf.reshape(lens, [-1, 1]));
    return tf.reshape(mask, [-1, 1, 1, keyLength]) as tf.Tensor4D;
  });
}

/** `[batch, 1, tq, tk]`: block-diagonal mask, tokens attend only within their segment (Block-Attention). */
export function segmentMask(
  querySegments: tf.Tensor2D,
  keySegments: tf.Tensor2D = querySegments,
): tf.Tensor4D {
  checkRank('segmentMask', 'querySegments', querySegments, 2);
  checkRank('segmentMask', 'keySegments', keySegments, 2);
  if (querySegments.shape[0] !== keySegments.shape[0]) {
    throw new ShapeError(
      'segmentMask',
      'keySegments',
      `batch ${querySegments.shape[0]} (as querySegments)`,
      `shape ${formatShape(keySegments.shape)}`,
    );
  }
  return tf.tidy(() => {
    const [b, tq] = querySegments.shape;
    const tk = keySegments.shape[1];
    const eq = tf.equal(
      tf.reshape(querySegments, [b, 1, tq, 1]),
      tf.reshape(keySegments, [b, 1, 1, tk]),
    );
    return eq as tf.Tensor4D;
  });
}

/** `[t, t]`: bidirectional over the first `prefixLength` tokens, causal after (prefix LM, Raffel et al. 2020). */
export function prefixLmMask(length: number, prefixLength: number): tf.Tensor2D {
  checkInt('prefixLmMask', 'length', length, 0);
  checkInt('prefixLmMask', 'prefixLength', prefixLength, 0);
  return tf.tidy(() => {
    const { q, k } = positionGrid(length, length, 0);
    return tf.logicalOr(tf.lessEqual(k, q), tf.less(k, prefixLength)) as tf.Tensor2D;
  });
}

/** Logical AND of boolean masks with broadcasting; undefined entries are skipped. */
export function combineMasks(...masks: (tf.Tensor | undefined)[]): tf.Tensor | undefined {
  const present = masks.filter((m): m is tf.Tensor => m !== undefined);
  present.forEach((m, i) => {
    if (m.dtype !== 'bool') {
      throw new ShapeError('combineMasks', `masks[${i}]`, 'dtype bool', `dtype ${m.dtype}`);
    }
  });
  if (present.length === 0) return undefined;
  present.reduce<number[]>(
    (shape, m, i) => broadcastShapes('combineMasks', `masks[${i}]`, shape, m.shape),
    [],
  );
  if (present.length === 1) return tf.clone(present[0]!);
  return tf.tidy(() => present.slice(1).reduce((acc, m) => tf.logicalAnd(acc, m), present[0]!));
}

/** Boolean mask -> float32 0 where true, `negative` where false. */
export function maskToAdditive(mask: tf.Tensor, negative = MASK_NEGATIVE): tf.Tensor {
  if (mask.dtype !== 'bool') {
    throw new ShapeError('maskToAdditive', 'mask', 'dtype bool', `dtype ${mask.dtype}`);
  }
  return tf.tidy(() => tf.where(mask, tf.scalar(0), tf.scalar(negative)));
}

/** Applies a boolean (`true` = keep, others get MASK_NEGATIVE) or additive float mask to logits. */
export function applyMask(logits: tf.Tensor, mask: tf.Tensor | undefined): tf.Tensor {
  checkFloat('applyMask', 'logits', logits);
  if (!mask) return tf.clone(logits);
  if (mask.dtype !== 'bool') checkFloat('applyMask', 'mask', mask);
  broadcastShapes('applyMask', 'mask', logits.shape, mask.shape);
  return tf.tidy(() =>
    mask.dtype === 'bool' ? tf.where(mask, logits, tf.scalar(MASK_NEGATIVE)) : tf.add(logits, mask),
  );
}
