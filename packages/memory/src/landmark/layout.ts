// Where the landmarks sit (Mohtashami & Jaggi 2023, "Landmark Attention", sec. 3): a landmark
// token follows every blockSize regular tokens, so block j spans positions [j·P, (j+1)·P) with
// P = blockSize + 1 and its landmark at j·P + blockSize. Landmarks are found from positions alone,
// so a mixer needs no extra context field and a decoding state only its keys.
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkInt,
  checkNumber,
  checkRank,
  formatShape,
} from '@attnkit/core';
import { repeatKvHeads } from '@attnkit/attention';

export interface LandmarkOptions {
  /** Regular tokens per block (ℓ_block of the paper); each block ends with its landmark. */
  blockSize: number;
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
  /**
   * Absolute position of key 0, a multiple of blockSize + 1 (blocks start there); default 0.
   * Queries are end-aligned: query i sits at keyOffset + tk - tq + i.
   */
  keyOffset?: number;
}

/** Sizes of one call, checked. */
export interface LandmarkGeometry {
  batch: number;
  heads: number;
  kvHeads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
  valueDim: number;
  blockSize: number;
  /** blockSize + 1: tokens per block, landmark included. */
  period: number;
  /** ⌈tk / period⌉: blocks the keys touch (the last may lack its landmark). */
  numBlocks: number;
  /** Position of query 0 relative to key 0 (tk - tq). */
  queryStart: number;
  scale: number;
}

/** Block of a position relative to key 0, and its slot (slot blockSize is the landmark). */
export const blockOf = (position: number, period: number): number => Math.floor(position / period);

/** Checks q [b, h, tq, d], k [b, kvh, tk, d], v [b, kvh, tk, dv] and the options. */
export function landmarkGeometry(
  block: string,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: LandmarkOptions,
): LandmarkGeometry {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(block, 'options', '{ blockSize, ... }', String(options));
  }
  for (const [name, x] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (!(x instanceof tf.Tensor)) throw new ShapeError(block, name, 'a tensor', typeof x);
    checkRank(block, name, x, 4);
  }
  const blockSize = checkInt(block, 'blockSize', options.blockSize, 1);
  const [batch, heads, queryLength, headDim] = q.shape;
  const [kb, kvHeads, keyLength, kd] = k.shape;
  const [vb, vh, vt, valueDim] = v.shape;
  if (kb !== batch || kd !== headDim || heads % kvHeads !== 0) {
    throw new ShapeError(
      block,
      'k',
      `shape [${batch}, a divisor of ${heads}, tk, ${headDim}] (as q)`,
      `shape ${formatShape(k.shape)}`,
    );
  }
  if (vb !== batch || vh !== kvHeads || vt !== keyLength) {
    throw new ShapeError(
      block,
      'v',
      `shape [${batch}, ${kvHeads}, ${keyLength}, dv] (as k)`,
      `shape ${formatShape(v.shape)}`,
    );
  }
  if (queryLength > keyLength || queryLength === 0) {
    throw new ShapeError(
      block,
      'q',
      `between 1 and tk=${keyLength} queries (end-aligned with the keys)`,
      `${queryLength}`,
    );
  }
  const period = blockSize + 1;
  const keyOffset = checkInt(block, 'keyOffset', options.keyOffset ?? 0, 0);
  if (keyOffset % period !== 0) {
    throw new ShapeError(
      block,
      'keyOffset',
      `a multiple of blockSize + 1 = ${period} (keys start at a block boundary)`,
      String(keyOffset),
    );
  }
  const scale =
    options.scale === undefined
      ? 1 / Math.sqrt(headDim)
      : checkNumber(block, 'scale', options.scale, { min: 0, minExclusive: true });
  return {
    batch,
    heads,
    kvHeads,
    queryLength,
    keyLength,
    headDim,
    valueDim,
    blockSize,
    period,
    numBlocks: Math.ceil(keyLength / period),
    queryStart: keyLength - queryLength,
    scale,
  };
}

/** x [b, kvh, t, d] with its heads repeated to h (GQA) and padded to numBlocks·period steps. */
export function paddedBlocks(x: tf.Tensor4D, g: LandmarkGeometry): tf.Tensor4D {
  return tf.pad(repeatKvHeads(x, g.heads), [
    [0, 0],
    [0, 0],
    [0, g.numBlocks * g.period - g.keyLength],
    [0, 0],
  ]) as tf.Tensor4D;
}

/**
 * softmax over the last axis of x restricted to `mask` (1 = in the group, 0 = out; broadcast);
 * a row with nothing in it gives zeros. Exact: masked entries get exp(·) = 0 after the shift.
 */
export function maskedSoftmax(x: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const z = tf.add(x, tf.mul(tf.sub(1, mask), -1e9));
    const e = tf.mul(tf.exp(tf.sub(z, tf.max(z, -1, true))), mask);
    // A row with a member sums to >= 1 (its max gives exp(0)); an empty one to 0.
    return tf.div(e, tf.maximum(tf.sum(e, -1, true), 1));
  });
}
