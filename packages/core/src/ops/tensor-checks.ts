import type * as tf from '@tensorflow/tfjs-core';
import { ShapeError, formatShape } from '../errors';

/** Throws a ShapeError unless `x` is float32 (the normalisers' gradients assume it). */
export function checkFloat(block: string, argument: string, x: tf.Tensor): void {
  if (x.dtype !== 'float32') {
    throw new ShapeError(block, argument, 'dtype float32', `dtype ${x.dtype}`);
  }
}

/** The numpy broadcast of two shapes, or a ShapeError naming `argument` (the second one). */
export function broadcastShapes(
  block: string,
  argument: string,
  target: readonly number[],
  shape: readonly number[],
): number[] {
  const rank = Math.max(target.length, shape.length);
  const out: number[] = [];
  for (let i = 1; i <= rank; i++) {
    const a = target[target.length - i] ?? 1;
    const b = shape[shape.length - i] ?? 1;
    if (a !== b && a !== 1 && b !== 1) {
      throw new ShapeError(
        block,
        argument,
        `a shape that broadcasts against ${formatShape(target)}`,
        `shape ${formatShape(shape)}`,
      );
    }
    out.unshift(a === 1 ? b : a);
  }
  return out;
}

/** Throws a ShapeError unless `shape` broadcasts to exactly `target` (size-1 or equal dims). */
export function checkBroadcastsTo(
  block: string,
  argument: string,
  shape: readonly number[],
  target: readonly number[],
): void {
  const fits =
    shape.length <= target.length &&
    shape.every((d, i) => d === 1 || d === target[target.length - shape.length + i]);
  if (!fits) {
    throw new ShapeError(
      block,
      argument,
      `a shape that broadcasts to ${formatShape(target)}`,
      `shape ${formatShape(shape)}`,
    );
  }
}
