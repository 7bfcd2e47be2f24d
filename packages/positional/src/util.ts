import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkRank, formatShape, gatherRows, reserve } from '@attnkit/core';

/**
 * Positions as a float32 `[n]` tensor (int32 and number[] accepted). When `length` is given the
 * vector must have that many entries. The caller owns the result (call inside `tf.tidy`).
 */
export function toPositions(
  block: string,
  argument: string,
  positions: tf.Tensor1D | readonly number[],
  length?: number,
): tf.Tensor1D {
  const p = positions instanceof tf.Tensor ? positions : tf.tensor1d(positions as number[]);
  checkRank(block, argument, p, 1);
  if (length !== undefined && p.shape[0] !== length) {
    throw new ShapeError(block, argument, `${length} positions`, `shape ${formatShape(p.shape)}`);
  }
  return p.dtype === 'float32' ? p : tf.cast(p, 'float32');
}

/** `key - query` distances `[tq, tk]` from two position vectors. */
export function relativePositions(
  queryPositions: tf.Tensor1D,
  keyPositions: tf.Tensor1D,
): tf.Tensor2D {
  return tf.sub(tf.expandDims(keyPositions, 0), tf.expandDims(queryPositions, 1)) as tf.Tensor2D;
}

/** Throws unless the `numHeads` a mixer passes matches the encoding's own. */
export function checkNumHeads(block: string, expected: number, actual: number): void {
  if (actual !== expected) {
    throw new ShapeError(
      block,
      'numHeads',
      `${expected} (the configured numHeads)`,
      String(actual),
    );
  }
}

/** Normal(0, std) initial values drawn from a module's seeded generator. */
export function normalInit(rng: { normal(): number }, shape: number[], std: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  // Refuse before allocating (addParameter counts the weight once registered).
  reserve('positional', `shape [${shape.join(',')}]`, size, { commit: false });
  return tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal() * std),
    shape,
  );
}

/**
 * `table[indices]` for a learned table `[n, d]` and int32 indices of any shape -> `[...shape, d]`:
 * core's gatherRows, whose scatter-add gradient runs on every backend (wasm included).
 */
export function lookupRows(table: tf.Tensor2D | tf.Variable, indices: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = table.shape[1]!;
    const rows = gatherRows(table as tf.Tensor2D, tf.reshape(indices, [-1]) as tf.Tensor1D);
    return tf.reshape(rows, [...indices.shape, d]);
  });
}

/**
 * What an 'embed' encoding adds at positions 0 .. maxLength - 1 (it embeds zeros), as a fused
 * decoder's position table `[maxLength, dim]` (architecture contract 7).
 */
export function positionTable(
  encoding: { embed(x: tf.Tensor3D, positions: tf.Tensor1D): tf.Tensor3D },
  maxLength: number,
  dim: number,
): Float32Array {
  const table = tf.tidy(() =>
    encoding.embed(
      tf.zeros([1, maxLength, dim]),
      tf.range(0, maxLength, 1, 'int32') as tf.Tensor1D,
    ),
  );
  const values = Float32Array.from(table.dataSync());
  table.dispose();
  return values;
}
