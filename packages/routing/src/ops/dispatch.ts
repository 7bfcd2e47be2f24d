import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '@attnkit/core';

/** One expert: [n, dim] -> [n, dim]. */
export type ExpertFn = (x: tf.Tensor2D) => tf.Tensor2D;

/**
 * Sparse dispatch: each expert runs only on the tokens routed to it (gather), and the
 * outputs are combined per slot as Σ_j gate[t, j] · y_{expert(t, j)}(x_t) (gather from the
 * stacked outputs). Both gathers use core's gatherRows, whose scatter-add gradient works on
 * every backend (tf.gather's needs UnsortedSegmentSum, absent on wasm).
 * x [tokens, dim], indices/mask [tokens*k] host arrays, gates [tokens, k].
 */
export function sparseDispatch(
  x: tf.Tensor2D,
  indices: ArrayLike<number>,
  mask: ArrayLike<number>,
  gates: tf.Tensor2D,
  experts: readonly ExpertFn[],
): tf.Tensor2D {
  const [tokens, k] = gates.shape;
  const dim = x.shape[1];
  return tf.tidy(() => {
    const rowsOf: number[][] = experts.map(() => []);
    const slotsOf: number[][] = experts.map(() => []);
    for (let i = 0; i < tokens * k; i++) {
      if (mask[i]! > 0) {
        rowsOf[indices[i]!]!.push(Math.floor(i / k));
        slotsOf[indices[i]!]!.push(i);
      }
    }
    const outputs: tf.Tensor2D[] = [];
    const rowOfSlot = new Int32Array(tokens * k);
    let offset = 0;
    experts.forEach((expert, e) => {
      const rows = rowsOf[e]!;
      if (rows.length === 0) return;
      const picked = gatherRows(x, tf.tensor1d(rows, 'int32'));
      outputs.push(expert(picked));
      slotsOf[e]!.forEach((slot, n) => (rowOfSlot[slot] = offset + n));
      offset += rows.length;
    });
    // Inactive slots read an extra zero row.
    for (let i = 0; i < tokens * k; i++) if (!(mask[i]! > 0)) rowOfSlot[i] = offset;
    const stacked = tf.concat([...outputs, tf.zeros([1, dim])], 0) as tf.Tensor2D;
    let out: tf.Tensor = tf.zeros([tokens, dim]);
    for (let j = 0; j < k; j++) {
      const ids = Int32Array.from({ length: tokens }, (_, t) => rowOfSlot[t * k + j]!);
      const y = gatherRows(stacked, tf.tensor1d(ids, 'int32'));
      out = tf.add(out, tf.mul(y, tf.slice(gates, [0, j], [tokens, 1])));
    }
    return out as tf.Tensor2D;
  });
}

/**
 * Dense reference: every expert on every token, combined with weights W[t, e] = Σ_j gate[t, j]
 * where indices[t, j] = e. Same result as sparseDispatch, at E times the cost; used in tests.
 */
export function denseDispatch(
  x: tf.Tensor2D,
  indices: ArrayLike<number>,
  gates: tf.Tensor2D,
  experts: readonly ExpertFn[],
): tf.Tensor2D {
  const [tokens, k] = gates.shape;
  const E = experts.length;
  return tf.tidy(() => {
    const hot = new Float32Array(tokens * k * E);
    for (let i = 0; i < tokens * k; i++) hot[i * E + indices[i]!] = 1;
    const weights = tf.sum(
      tf.mul(tf.expandDims(gates, 2), tf.tensor3d(hot, [tokens, k, E])),
      1,
    ) as tf.Tensor2D;
    let out: tf.Tensor = tf.zerosLike(x);
    experts.forEach((expert, e) => {
      out = tf.add(out, tf.mul(expert(x), tf.slice(weights, [0, e], [tokens, 1])));
    });
    return out as tf.Tensor2D;
  });
}
