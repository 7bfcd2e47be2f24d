import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@attnkit/core';

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
