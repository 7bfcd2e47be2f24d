import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkInt,
  checkNumber,
  checkRank,
  combineMasks,
  formatShape,
  positionMask,
  segmentMask,
} from '@attnkit/core';
import type { AttentionOptions } from './options';
import { checkNormalizerOption } from './normalizer-option';

const SDPA = 'scaledDotProductAttention';

/** Sizes and resolved positions of a query/key pair (the logits' geometry). */
export interface ScoreGeometry {
  batch: number;
  heads: number;
  kvHeads: number;
  queryLength: number;
  keyLength: number;
  headDim: number;
  queryPositions: number[];
  keyPositions: number[];
  scale: number;
}

export interface AttentionGeometry extends ScoreGeometry {
  valueDim: number;
}

/** Checks q/k/v and the options; returns sizes and resolved positions. */
export function validateAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  options: AttentionOptions,
  block = SDPA,
): AttentionGeometry {
  const geometry = validateScores(q, k, options, block);
  checkRank(block, 'v', v, 4);
  if (v.dtype !== 'float32') throw new ShapeError(block, 'v', 'dtype float32', `dtype ${v.dtype}`);
  const { batch, kvHeads, keyLength } = geometry;
  if (v.shape[0] !== batch || v.shape[1] !== kvHeads || v.shape[2] !== keyLength) {
    throw new ShapeError(
      block,
      'v',
      `shape [${batch},${kvHeads},${keyLength},dv] (as k)`,
      `shape ${formatShape(v.shape)}`,
    );
  }
  const { rowMask } = options;
  const rows = [batch, geometry.heads, geometry.queryLength];
  if (rowMask && (rowMask.dtype !== 'float32' || !tf.util.arraysEqual(rowMask.shape, rows))) {
    throw new ShapeError(
      block,
      'rowMask',
      `float32 [${rows}] (batch, heads, queries)`,
      `${rowMask.dtype} ${formatShape(rowMask.shape)}`,
    );
  }
  return { ...geometry, valueDim: v.shape[3]! };
}

/** Checks q, k and the options (everything but the values); returns the logits' geometry. */
export function validateScores(
  q: tf.Tensor,
  k: tf.Tensor,
  options: AttentionOptions,
  block = SDPA,
): ScoreGeometry {
  checkRank(block, 'q', q, 4);
  checkRank(block, 'k', k, 4);
  for (const [name, t] of [
    ['q', q],
    ['k', k],
  ] as const) {
    if (t.dtype !== 'float32')
      throw new ShapeError(block, name, 'dtype float32', `dtype ${t.dtype}`);
  }
  const [batch, heads, queryLength, headDim] = q.shape as [number, number, number, number];
  const [kb, kvHeads, keyLength, kd] = k.shape as [number, number, number, number];
  if (kb !== batch || kd !== headDim) {
    throw new ShapeError(
      block,
      'k',
      `shape [${batch},kvHeads,tk,${headDim}] (batch and headDim of q)`,
      `shape ${formatShape(k.shape)}`,
    );
  }
  if (heads % kvHeads !== 0) {
    throw new ShapeError(
      block,
      'k heads',
      `a divisor of the ${heads} query heads`,
      `${kvHeads} key/value heads`,
    );
  }
  if (options.window !== undefined) checkInt(block, 'window', options.window, 1);
  if (options.chunkSize !== undefined) checkInt(block, 'chunkSize', options.chunkSize, 1);
  if (options.sinkTokens !== undefined) checkInt(block, 'sinkTokens', options.sinkTokens, 0);
  if (options.logitSoftcap !== undefined)
    checkNumber(block, 'logitSoftcap', options.logitSoftcap, { min: 0, minExclusive: true });
  if (options.dropout !== undefined)
    checkNumber(block, 'dropout', options.dropout, { min: 0, max: 0.999 });
  if (options.scale !== undefined)
    checkNumber(block, 'scale', options.scale, { min: 0, minExclusive: true });
  if (typeof options.sinkLogit === 'number') checkNumber(block, 'sinkLogit', options.sinkLogit);
  if (
    options.sinkLogit instanceof tf.Tensor &&
    options.sinkLogit.size !== heads &&
    options.sinkLogit.size !== 1
  ) {
    throw new ShapeError(
      block,
      'sinkLogit',
      `a number or a tensor of ${heads} values (one per head)`,
      `shape ${formatShape(options.sinkLogit.shape)}`,
    );
  }
  if (options.chunkSize !== undefined && (options.dropout ?? 0) > 0) {
    throw new ConfigError(
      block,
      'dropout',
      '0 with chunkSize (the chunked form has no weight dropout)',
      String(options.dropout),
    );
  }
  checkNormalizerOption(block, options);
  if (options.chunkSize !== undefined && options.returnWeights) {
    throw new ConfigError(
      block,
      'returnWeights',
      'false with chunkSize (the chunked form never builds the weights)',
      'true',
    );
  }
  const keyPositions = options.keyPositions ?? [...Array(keyLength).keys()];
  const queryPositions =
    options.queryPositions ??
    Array.from({ length: queryLength }, (_, i) => keyLength - queryLength + i);
  if (keyPositions.length !== keyLength) {
    throw new ShapeError(
      block,
      'keyPositions',
      `${keyLength} positions (one per key)`,
      `${keyPositions.length}`,
    );
  }
  if (queryPositions.length !== queryLength) {
    throw new ShapeError(
      block,
      'queryPositions',
      `${queryLength} positions (one per query)`,
      `${queryPositions.length}`,
    );
  }
  for (const [name, seg, len] of [
    ['querySegments', options.querySegments, queryLength],
    ['keySegments', options.keySegments ?? options.querySegments, keyLength],
  ] as const) {
    if (seg && (seg.rank !== 2 || seg.shape[0] !== batch || seg.shape[1] !== len)) {
      throw new ShapeError(
        block,
        name,
        `shape [${batch},${len}]`,
        `shape ${formatShape(seg.shape)}`,
      );
    }
  }
  return {
    batch,
    heads,
    kvHeads,
    queryLength,
    keyLength,
    headDim,
    queryPositions,
    keyPositions,
    scale: options.scale ?? 1 / Math.sqrt(headDim),
  };
}

/** Repeats key/value heads so each group of query heads sees its shared head (GQA). */
export function repeatKvHeads(x: tf.Tensor4D, heads: number): tf.Tensor4D {
  const [b, kvHeads, t, d] = x.shape;
  if (kvHeads === heads) return x;
  const group = heads / kvHeads;
  // Rank-4 tile: tfjs has no tile gradient for rank 5.
  return tf.reshape(tf.tile(tf.reshape(x, [b, kvHeads, 1, t * d]), [1, 1, group, 1]), [
    b,
    heads,
    t,
    d,
  ]) as tf.Tensor4D;
}

/**
 * The structural mask of a block of queries and keys: causal, window (with sinks) and segments, as a
 * boolean [1 | batch, 1, tq, tk] tensor, or undefined when nothing is masked. Built from core's
 * positionMask and segmentMask.
 */
export function structuralMask(
  options: AttentionOptions,
  queryPositions: number[],
  keyPositions: number[],
  querySegments?: tf.Tensor2D,
  keySegments?: tf.Tensor2D,
): tf.Tensor | undefined {
  const causal = options.causal || options.window !== undefined;
  if (!causal && !querySegments) return undefined;
  return tf.tidy(() => {
    const positions = causal
      ? tf.reshape(
          positionMask(queryPositions, keyPositions, {
            window: options.window,
            sinkTokens: options.sinkTokens,
          }),
          [1, 1, queryPositions.length, keyPositions.length],
        )
      : undefined;
    const segments = querySegments
      ? segmentMask(querySegments, keySegments ?? querySegments)
      : undefined;
    return combineMasks(positions, segments)!;
  });
}
