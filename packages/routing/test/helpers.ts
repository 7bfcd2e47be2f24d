import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type PositionalEncoding, Rng } from '@attnkit/core';

/** Reads a golden fixture written by tools/reference/routing/reference.py. */
export function fixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', name), 'utf8')) as T;
}

/** Seeded standard-normal tensor. */
export function randn(shape: number[], seed = 1, scale = 1): tf.Tensor {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: size }, () => rng.normal() * scale),
    shape,
  );
}

/**
 * Test double of a rotary encoding (rotate-half RoPE, base 10000, Su et al. 2021), the same
 * convention as tools/reference/routing/moh_reference.py.
 */
export const testRope: PositionalEncoding = {
  kind: 'rotate',
  rotate(x: tf.Tensor4D, positions: tf.Tensor1D): tf.Tensor4D {
    return tf.tidy(() => {
      const d = x.shape[3];
      const half = d / 2;
      const inv = tf.tensor1d(Array.from({ length: half }, (_, i) => 10000 ** ((-2 * i) / d)));
      const angle = tf.mul(tf.reshape(tf.cast(positions, 'float32'), [-1, 1]), inv);
      const cos = tf.cos(angle);
      const sin = tf.sin(angle);
      const x1 = tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, half]);
      const x2 = tf.slice(x, [0, 0, 0, half], [-1, -1, -1, half]);
      return tf.concat(
        [tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x1, sin), tf.mul(x2, cos))],
        3,
      ) as tf.Tensor4D;
    });
  },
};
