import type * as tf from '@tensorflow/tfjs-core';
import { NamedRegistry, type EntryInfo } from '../named-registry';
import { softmax } from './softmax';
import { sparsemax } from './sparsemax';
import { entmax15 } from './entmax';

/** Maps scores to weights along an axis (softmax, sparsemax, entmax-1.5, or a user's own). */
export type Normalizer = (x: tf.Tensor, axis?: number) => tf.Tensor;

/** Normalisers by name; attention mixers take one by `normalizer: '<name>'`. */
export const normalizers = new NamedRegistry<Normalizer>('normalizer');
normalizers.register('softmax', (x, axis = -1) => softmax(x, { axis }), {
  summary: 'exp(x) / sum exp(x): dense weights',
});
normalizers.register('sparsemax', sparsemax, {
  paper: 'Martins & Astudillo 2016, From Softmax to Sparsemax',
  equation: 'eq. 2',
  summary: 'Euclidean projection onto the simplex: exact zeros',
});
normalizers.register('entmax15', entmax15, {
  paper: 'Peters et al. 2019, Sparse Sequence-to-Sequence Models',
  equation: 'alpha-entmax with alpha = 1.5',
  summary: 'between softmax and sparsemax: sparse and smooth',
});

export function registerNormalizer(name: string, fn: Normalizer, info?: EntryInfo): void {
  normalizers.register(name, fn, info);
}

export function getNormalizer(name: string): Normalizer {
  return normalizers.get(name);
}

export function normalizerNames(): string[] {
  return normalizers.names();
}
