// Long inputs (the memory benchmark's finding): every Titans mixer and Miras variant stays causal
// over many chunks (a prefix's outputs do not depend on what follows) and an untrained layer stays
// bounded (its per-chunk output norm does not grow).
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, type Module, type TokenMixer } from '@attnkit/core';
import { maxAbsDiff } from '@attnkit/core/testing';
import '../../src';

type Mixer = Module & TokenMixer;
const make = (config: Record<string, unknown>, dModel = 8) =>
  build<Mixer>({ dModel, numHeads: 2, ...config } as unknown as { type: string }, {
    rng: new Rng(5),
  });

const CHUNK = 2;
const mixers: Record<string, unknown>[] = [
  { type: 'neural-memory', chunkSize: CHUNK },
  { type: 'neural-memory', chunkSize: CHUNK, miras: 'moneta' },
  { type: 'neural-memory', chunkSize: CHUNK, miras: 'yaad' },
  { type: 'neural-memory', chunkSize: CHUNK, miras: 'memora' },
  { type: 'neural-memory', chunkSize: CHUNK, memoryModel: 'linear' },
  { type: 'neural-memory', chunkSize: CHUNK, memoryModel: 'swiglu' },
  { type: 'neural-memory', chunkSize: CHUNK, memoryDepth: 3 },
  { type: 'titans-mac', chunkSize: CHUNK, persistentTokens: 2 },
  { type: 'titans-mag', chunkSize: CHUNK, window: 3, persistentTokens: 2 },
  { type: 'titans-mal', chunkSize: CHUNK, window: 3, persistentTokens: 2 },
];
const label = (c: Record<string, unknown>) =>
  Object.entries(c)
    .filter(([k]) => k !== 'chunkSize')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');

describe('Titans mixers over many chunks', () => {
  it.each(mixers.map((c) => [label(c), c] as const))(
    'causal: the first t = 8 chunks give the same outputs with t or 4t tokens (%s)',
    (_name, config) => {
      const m = make(config);
      try {
        tf.tidy(() => {
          const t = 8 * CHUNK;
          const x = tf.randomNormal([1, 4 * t, 8], 0, 1, 'float32', 11) as tf.Tensor3D;
          const long = m.forward(x);
          const short = m.forward(tf.split(x, [t, 3 * t], 1)[0] as tf.Tensor3D);
          const head = tf.split(long, [t, 3 * t], 1)[0]!;
          expect(tf.all(tf.isFinite(long)).dataSync()[0]).toBe(1);
          expect(maxAbsDiff(head, short)).toBeLessThanOrEqual(1e-4);
        });
      } finally {
        m.dispose();
      }
    },
  );

  // Heads of the benchmark's width (16), shorter chunks than its 16 to keep the spec quick.
  it.each(mixers.map((c) => [label(c), { ...c, chunkSize: 8 }] as const))(
    'bounded: an untrained layer over 12 chunks of N(0, 1) inputs keeps its per-chunk output norm (%s)',
    (_name, config) => {
      const m = make(config, 32);
      try {
        tf.tidy(() => {
          const chunks = 12;
          const x = tf.randomNormal([1, 8 * chunks, 32], 0, 1, 'float32', 7) as tf.Tensor3D;
          const y = m.forward(x);
          const norms = Array.from(
            tf.norm(tf.reshape(y, [chunks, 8 * 32]), 'euclidean', 1).dataSync(),
          );
          expect(norms.every(Number.isFinite)).toBe(true);
          // Within a small factor of the first chunks' (random inputs: no trend, no blow-up).
          const start = (norms[0]! + norms[1]!) / 2;
          expect(Math.max(...norms)).toBeLessThan(4 * start);
          expect(Math.min(...norms)).toBeGreaterThan(start / 4);
        });
      } finally {
        m.dispose();
      }
    },
  );
});
