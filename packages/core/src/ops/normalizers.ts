import type * as tf from '@tensorflow/tfjs-core';
import { RegistryError } from '../errors';
import { describe } from '../checks';
import { softmax } from './softmax';
import { sparsemax } from './sparsemax';
import { entmax15 } from './entmax';

/** Maps scores to weights along an axis (softmax, sparsemax, entmax-1.5, or a user's own). */
export type Normalizer = (x: tf.Tensor, axis?: number) => tf.Tensor;

const normalizers = new Map<string, Normalizer>([
  ['softmax', (x, axis = -1) => softmax(x, { axis })],
  ['sparsemax', sparsemax],
  ['entmax15', entmax15],
]);

export function registerNormalizer(name: string, fn: Normalizer): void {
  if (normalizers.has(name)) {
    throw new RegistryError(
      'registerNormalizer',
      'name',
      'a new normalizer name',
      `'${name}' already registered`,
    );
  }
  normalizers.set(name, fn);
}

export function getNormalizer(name: string): Normalizer {
  const fn = normalizers.get(name);
  if (!fn) {
    throw new RegistryError(
      'getNormalizer',
      'name',
      `one of ${[...normalizers.keys()].join(', ')}`,
      describe(name),
    );
  }
  return fn;
}

export function normalizerNames(): string[] {
  return [...normalizers.keys()];
}
