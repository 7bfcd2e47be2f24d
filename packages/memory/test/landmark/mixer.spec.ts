import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  ShapeError,
  build,
  estimateConfig,
  type ProbeEvent,
} from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { KVCache } from '@attnkit/attention';
import type { LandmarkAttention } from '@attnkit/memory';
import '@attnkit/memory'; // registers landmark-attention

const base = { type: 'landmark-attention', dModel: 8, numHeads: 2, blockSize: 2 } as const;
const make = (extra: object = {}) =>
  build<LandmarkAttention>({ ...base, ...extra }, { rng: new Rng(3) });
const input = (t: number, seed = 1) =>
  tf.randomNormal([2, t, 8], 0, 1, 'float32', seed) as tf.Tensor3D;

/** Feeds x `step` tokens at a time through a fresh cache; the outputs concatenated. */
function decode(m: LandmarkAttention, x: tf.Tensor3D, step: number): tf.Tensor3D {
  const state = m.initState();
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i += step) {
    const n = Math.min(step, x.shape[1] - i);
    outs.push(
      tf.tidy(() => m.forward(tf.slice(x, [0, i, 0], [-1, n, -1]) as tf.Tensor3D, { state })),
    );
  }
  state.dispose();
  const out = tf.concat(outs, 1) as tf.Tensor3D;
  tf.dispose(outs);
  return out;
}

describe('landmark-attention mixer', () => {
  it('retrieving every block equals the grouped softmax of training (outputs and input gradients)', () => {
    tf.tidy(() => {
      // 14 tokens, blocks of 2 + landmark: 5 blocks, so topK = 5 retrieves all of them.
      const m = make({ topK: 5, numKvHeads: 1 });
      const x = input(14);
      const probe = tf.randomNormal([2, 14, 8], 0, 1, 'float32', 2);
      const run = (training: boolean) => {
        const f = (v: tf.Tensor) =>
          tf.sum(tf.mul(m.forward(v as tf.Tensor3D, { training }), probe));
        return { y: m.forward(x, { training }), dx: tf.grad(f)(x) };
      };
      const [grouped, retrieved] = [run(true), run(false)];
      expect(maxAbsDiff(retrieved.y, grouped.y)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(retrieved.dx, grouped.dx)).toBeLessThanOrEqual(1e-4);
      // Retrieving fewer blocks is a different attention.
      const one = make({ topK: 1, numKvHeads: 1 });
      expect(maxAbsDiff(one.forward(x), grouped.y)).toBeGreaterThan(1e-3);
      m.dispose();
      one.dispose();
    });
  });

  it('decodes from a cache of blocks: cached (k = all blocks) equals the full grouped forward', () => {
    tf.tidy(() => {
      const m = make({ topK: 4 });
      const x = input(13);
      const full = m.forward(x, { training: true }); // grouped softmax over everything
      for (const step of [1, 4]) expect(maxAbsDiff(decode(m, x, step), full)).toBeLessThan(1e-4);
      m.dispose();
    });
  });

  it.each([[{ topK: 1 }], [{ topK: 1, localBlocks: 1 }]])(
    'decodes with %j exactly as its own full retrieval forward',
    (options) => {
      tf.tidy(() => {
        const m = make(options);
        const x = input(13, 4);
        expect(maxAbsDiff(decode(m, x, 1), m.forward(x))).toBeLessThan(1e-4);
        m.dispose();
      });
    },
  );

  it('reports the block it retrieved: the one whose landmark matches the query', () => {
    tf.tidy(() => {
      // Identity projections, one head: a query retrieves the landmark most aligned with it.
      const m = build<LandmarkAttention>({ ...base, numHeads: 1, topK: 1 });
      const eye = tf.eye(8);
      for (const layer of [m.q, m.k, m.v, m.o]) layer.weight.assign(eye);
      const rows = Array.from({ length: 13 }, (_, t) =>
        Array.from({ length: 8 }, (_, i) => {
          if (t === 12) return i === 0 ? 1 : 0; // the query
          if (t % 3 === 2) return i === (t === 5 ? 0 : 7) ? 6 : 0; // landmarks: block 1 matches
          return 0.1 * Math.cos(t * 8 + i);
        }),
      );
      const x = tf.tensor3d([rows]);
      const seen: ProbeEvent[] = [];
      m.forward(x, { probe: (e) => seen.push(e), path: 'layers_0.mixer' });
      expect(seen).toEqual([
        {
          block: 'landmark-attention',
          path: 'layers_0.mixer',
          name: 'retrievedBlocks',
          value: [1],
        },
      ]);
      m.dispose();
    });
  });

  it('refuses bad configs and misplaced positions with typed one-line errors', () => {
    expect(() => make({ blockSize: 0 })).toThrow(ConfigError);
    expect(() => make({ topK: 0 })).toThrow(/topK/);
    const m = make({ topK: 1 });
    tf.tidy(() => {
      // Keys must start at a block boundary (position 0, 3, 6, ...) to find the landmarks.
      expect(() => m.forward(input(4), { offset: 2 })).toThrow(ShapeError);
      expect(() => m.forward(input(4), { offset: 2 })).toThrow(/keyOffset.*multiple of/);
      const state = new KVCache();
      m.forward(input(3), { state });
      expect(() => m.forward(input(1), { state, offset: 7 })).toThrow(/context.positions/);
      state.dispose();
    });
    m.dispose();
  });

  it('estimates the parameters it builds, with grouped-query heads and biases', () => {
    const config = { ...base, dModel: 12, numHeads: 4, numKvHeads: 2, bias: true, topK: 2 };
    const m = build<LandmarkAttention>(config);
    expect(estimateConfig(config)!.parameters).toBe(m.numParams());
    m.dispose();
  });

  it('leaks nothing over training, retrieval, decoding and their gradients', async () => {
    await expectNoLeaks(() => {
      const m = make({ topK: 2 });
      const x = input(9);
      for (const training of [true, false]) {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(m.forward(x, { training })) as tf.Scalar,
        );
        tf.dispose([value, ...Object.values(grads)]);
      }
      decode(m, x, 2).dispose();
      x.dispose();
      m.dispose();
    });
  });
});
