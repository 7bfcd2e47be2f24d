import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@attnkit/core';
import type { RotaryOptions } from '@attnkit/positional';

type Nested = number[] | number[][] | number[][][] | number[][][][];

export interface RotaryCase {
  name: string;
  config: RotaryOptions;
  positions: number[];
  x: number[][][][];
  expected: number[][][][];
  invFreq: number[];
  logitScale: number;
}

export interface SinusoidalFixture {
  cases: { positions: number[]; dim: number; base: number; values: number[][] }[];
  grid2d: { height: number; width: number; dim: number; values: number[][] };
}

/** Bias fixtures share these fields; extra fields per block. */
export interface BiasFixture {
  numHeads: number;
  queryPositions: number[];
  keyPositions: number[];
  values: Nested;
  [extra: string]: unknown;
}

/** Reads a golden fixture written by tools/reference/positional/reference.py. */
export function fixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', name), 'utf8')) as T;
}

/** Seeded standard-normal tensor. */
export function randn(shape: number[], seed = 1): tf.Tensor {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: size }, () => rng.normal()),
    shape,
  );
}

export const range = (start: number, end: number): tf.Tensor1D =>
  tf.range(start, end, 1, 'int32') as tf.Tensor1D;
