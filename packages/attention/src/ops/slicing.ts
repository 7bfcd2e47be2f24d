import * as tf from '@tensorflow/tfjs-core';

/** Pads a shape on the left with 1s to rank 4 ([b, h, tq, tk] broadcasting). */
export function asRank4(t: tf.Tensor): tf.Tensor4D {
  const shape = [...(Array(4 - t.rank).fill(1) as number[]), ...t.shape] as [
    number,
    number,
    number,
    number,
  ];
  return tf.reshape(t, shape) as tf.Tensor4D;
}

/** Rows [r0, r1) and columns [c0, c1) of a rank-4 tensor that may broadcast on those axes. */
export function sliceBlock(
  t: tf.Tensor4D,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
): tf.Tensor4D {
  const [b, h, rows, cols] = t.shape;
  const begin = [0, 0, rows === 1 ? 0 : r0, cols === 1 ? 0 : c0];
  const size = [b, h, rows === 1 ? 1 : r1 - r0, cols === 1 ? 1 : c1 - c0];
  return tf.slice(t, begin, size);
}

/** Sums `grad` down to `shape` over broadcast axes (keeps rank 4). */
export function reduceToShape(grad: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = grad.shape.map((d, i) => (shape[i] === 1 && d !== 1 ? i : -1)).filter((i) => i >= 0);
  return axes.length ? tf.sum(grad, axes, true) : grad;
}

/** Chunk boundaries [start, end) covering 0..length. */
export function chunks(length: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < length; start += size)
    out.push([start, Math.min(length, start + size)]);
  return out;
}

/**
 * x cut along `axis` into n equal pieces, or pieces of the given sizes. tf.split, not one slice
 * per piece: a slice's gradient is padded to the whole input, so n slices would cost O(n²)
 * memory in the backward pass (and tfjs' split/unstack gradients fail with a single piece).
 */
export function pieces(x: tf.Tensor, n: number | number[], axis: number): tf.Tensor[] {
  const count = typeof n === 'number' ? n : n.length;
  return count === 1 ? [x] : tf.split(x, n, axis);
}
