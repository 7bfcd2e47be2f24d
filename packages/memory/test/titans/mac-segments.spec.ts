// Titans MAC attends segment by segment (Behrouz et al. 2024, sec. 4.1, eq. 22: each segment's
// queries over [P, h, S]): the same outputs as one attention over the whole sequence with a block
// mask, and no value of a later segment reaches an earlier segment's outputs.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import { maxAbsDiff } from '@attnkit/core/testing';
import { scaledDotProductAttention } from '@attnkit/attention';
import type { TitansMac } from '../../src';
import '../../src';

const [D, HEADS, SEG] = [8, 2, 3];
const make = (persistentTokens: number) =>
  build<TitansMac>(
    { type: 'titans-mac', dModel: D, numHeads: HEADS, chunkSize: SEG, persistentTokens },
    { rng: new Rng(4) },
  );
const input = (t: number) => tf.randomNormal([2, t, D], 0, 1, 'float32', 6) as tf.Tensor3D;

/** MAC as one attention over the whole sequence, keys [h | x] under a same-segment causal mask. */
function blockMasked(m: TitansMac, x: tf.Tensor3D): tf.Tensor {
  const [b, t] = x.shape;
  const heads = (y: tf.Tensor, n: number, batch = b) =>
    tf.transpose(tf.reshape(y, [batch, n, HEADS, D / HEADS]), [0, 2, 1, 3]) as tf.Tensor4D;
  const h = m.memory.run(x, undefined, 'chunkStart');
  const keep = new Uint8Array(t * 2 * t);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j <= i; j++) {
      if (Math.floor(i / SEG) !== Math.floor(j / SEG)) continue;
      keep[i * 2 * t + j] = 1;
      keep[i * 2 * t + t + j] = 1;
    }
  }
  const p = m.persistent;
  const prefix = p
    ? {
        keys: heads(m.k.forward(tf.expandDims(p, 0)), p.shape[0], 1),
        values: heads(m.v.forward(tf.expandDims(p, 0)), p.shape[0], 1),
      }
    : undefined;
  const out = scaledDotProductAttention(
    heads(m.q.forward(x), t),
    tf.concat([heads(m.k.forward(h), t), heads(m.k.forward(x), t)], 2) as tf.Tensor4D,
    tf.concat([heads(m.v.forward(h), t), heads(m.v.forward(x), t)], 2) as tf.Tensor4D,
    { scale: 1 / Math.sqrt(D / HEADS), mask: tf.tensor4d(keep, [1, 1, t, 2 * t], 'bool'), prefix },
  ).output;
  return m.o.forward(tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, t, D]));
}

describe('titans-mac attends segment by segment', () => {
  it.each([2, 0])(
    'equals the whole-sequence block-mask form (%i persistent tokens; full and in pieces)',
    (persistent) => {
      const m = make(persistent);
      try {
        tf.tidy(() => {
          const x = input(11); // segments of 3, 3, 3, 2 tokens
          const full = m.forward(x);
          expect(maxAbsDiff(full, blockMasked(m, x))).toBeLessThanOrEqual(1e-5);
          // Pieces that start and end inside segments use the state's cached keys/values.
          const state = m.initState(2);
          const parts = tf.split(x, [2, 5, 1, 3], 1) as tf.Tensor3D[];
          const stepped = tf.concat(
            parts.map((part) => m.forward(part, { state })),
            1,
          );
          expect(maxAbsDiff(stepped, full)).toBeLessThanOrEqual(1e-5);
          state.dispose();
        });
      } finally {
        m.dispose();
      }
    },
  );

  it.each([3e38, Infinity, NaN])(
    'a value %p in the last segment leaves the earlier segments’ outputs unchanged',
    (huge) => {
      const m = make(2);
      try {
        tf.tidy(() => {
          const x = input(9);
          const values = x.arraySync();
          values[0]![7]![3] = huge; // batch 0, token 7 (third segment)
          const poisoned = m.forward(tf.tensor3d(values));
          const head = (y: tf.Tensor) => tf.split(y, [6, 3], 1)[0]!;
          expect(tf.all(tf.isFinite(head(poisoned))).dataSync()[0]).toBe(1);
          expect(maxAbsDiff(head(poisoned), head(m.forward(x)))).toBeLessThanOrEqual(1e-6);
        });
      } finally {
        m.dispose();
      }
    },
  );
});
