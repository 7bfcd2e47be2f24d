import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  build,
  estimateConfig,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { Dhsa, DhsaState } from '@attnkit/attention';

type Mixer = Module & TokenMixer;
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/dhsa.json'), 'utf8'),
) as { cases: Case[] };

const make = (config: Record<string, unknown>) =>
  build<Dhsa>({ type: 'dhsa', dModel: 8, numHeads: 2, topK: 4, maxChunkSize: 3, ...config });

/** Output and the gradients of sum(y · probe) for x and every trainable parameter. */
function outputAndGradients(m: Mixer, x: tf.Tensor3D, probe: tf.Tensor) {
  const params = [...m.namedParameters()].filter(([, v]) => v.trainable);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar);
  const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
    x,
  );
  return { y: m.forward(x), dx, grads: params.map(([name, v]) => [name, grads[v.name]!] as const) };
}

/** Sets the boundary MLP's output bias: very negative = never predicts, very positive = always. */
function biasBoundaries(m: Dhsa, value: number) {
  tf.tidy(() => m.boundaryB2.assign(tf.fill([1], value)));
}

describe('dhsa (Xiong et al. 2025, dynamic hierarchical sparse attention)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => {
      const m = build<Dhsa>(c.config);
      m.loadStateDict(
        Object.fromEntries(
          Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
        ),
      );
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
      const g = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
      )(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      // The predictor decides some boundaries itself (chunks shorter than maxChunkSize).
      const keys = tf.tidy(() =>
        tf.transpose(
          tf.reshape(tf.matMul(tf.reshape(x, [-1, 8]), m.k.weight), [c.shape[0], c.shape[1], 2, 4]),
          [0, 2, 1, 3],
        ),
      ) as tf.Tensor4D;
      const ids = m.chunkIds(keys);
      const lengths = ids.flatMap((row) => {
        const count = new Map<number, number>();
        row.forEach((id) => count.set(id, (count.get(id) ?? 0) + 1));
        return [...count.values()].slice(0, -1);
      });
      expect(lengths.some((n) => n < (c.config.maxChunkSize as number))).toBe(true);
      m.dispose();
    },
  );

  it.each([
    ['top-4, chunks <= 3', { topK: 4, maxChunkSize: 3 }],
    ['top-6, chunks <= 2, window 3, bias', { topK: 6, maxChunkSize: 2, window: 3, bias: true }],
    ['top-3, chunks <= 3, headDim 3', { topK: 3, maxChunkSize: 3, headDim: 3 }],
  ])(
    '%s: the gathered path equals the selection as a mask on full attention (outputs, all gradients)',
    (_n, extra) => {
      const sparse = make({ ...extra, form: 'gather' });
      const dense = make({ ...extra, form: 'dense' });
      dense.loadStateDict(sparse.stateDict());
      const x = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
      const probe = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 2);
      const a = outputAndGradients(sparse, x, probe);
      const b = outputAndGradients(dense, x, probe);
      expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(a.dx, b.dx)).toBeLessThanOrEqual(1e-4);
      expect(a.grads.length).toBe(b.grads.length);
      a.grads.forEach(([name, g], i) => {
        expect([name, maxAbsDiff(g, b.grads[i]![1]) <= 1e-4]).toEqual([name, true]);
      });
      sparse.dispose();
      dense.dispose();
    },
  );

  it('chunks: a silent predictor gives chunks of maxChunkSize, an always-on one a chunk per token', () => {
    const m = make({ maxChunkSize: 3 });
    const keys = tf.randomNormal([1, 2, 8, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    biasBoundaries(m, -1e4);
    expect(Array.from(m.chunkIds(keys)[0]!)).toEqual([0, 0, 0, 1, 1, 1, 2, 2]);
    biasBoundaries(m, 1e4);
    expect(Array.from(m.chunkIds(keys)[0]!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    keys.dispose();
    m.dispose();
  });

  it('a budget of every key is full causal attention; a smaller one differs', () => {
    const all = make({ topK: 10 });
    const some = make({ topK: 3, maxChunkSize: 2 });
    some.loadStateDict(all.stateDict());
    const mha = build<Mixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: true });
    mha.loadStateDict(
      Object.fromEntries(Object.entries(all.stateDict()).filter(([n]) => /^[qkvo]\./.test(n))),
    );
    const x = tf.randomNormal([2, 10, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    expectClose(all.forward(x), mha.forward(x), { atol: 1e-5 });
    expect(maxAbsDiff(some.forward(x), mha.forward(x))).toBeGreaterThan(1e-3);
    [all, some, mha].forEach((m) => m.dispose());
  });

  it('selects its own chunk, then earlier chunks by the length-normalised chunk similarity', () => {
    // keys [1, 1, 5, 2]: headDim 2; a silent predictor cuts chunks [0,1] [2,3] [4].
    const q = tf.tensor4d([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 5, 2]);
    // Chunk [0,1] pools to √2·(1, 0), chunk [2,3] to √2·(−1, 0): query 4 = (1, 0) prefers chunk 0.
    const k = tf.tensor4d([1, 0, 1, 0, -1, 0, -1, 0, 0, 1], [1, 1, 5, 2]);
    const small = build<Dhsa>({ type: 'dhsa', dModel: 4, numHeads: 2, topK: 3, maxChunkSize: 2 });
    biasBoundaries(small, -1e4);
    const picked = small.select(q, k, 1).arraySync()[0]![0]![0]!;
    expect(picked).toEqual([4, 0, 1]);
    const flipped = tf.neg(q) as tf.Tensor4D; // query 4 = (−1, 0) prefers chunk [2,3]
    expect(small.select(flipped, k, 1).arraySync()[0]![0]![0]!).toEqual([4, 2, 3]);
    tf.dispose([q, k, flipped]);
    small.dispose();
  });

  it('decodes one and four tokens at a time exactly as the full forward (13 tokens)', () => {
    const m = make({ topK: 4, maxChunkSize: 3, window: 2 });
    const x = tf.randomNormal([2, 13, 8], 0, 1, 'float32', 7) as tf.Tensor3D;
    const full = m.forward(x);
    for (const step of [1, 4]) {
      const state = m.initState();
      const parts: tf.Tensor3D[] = [];
      for (let i = 0; i < 13; i += step) {
        const n = Math.min(step, 13 - i);
        parts.push(m.forward(tf.slice(x, [0, i, 0], [-1, n, -1]) as tf.Tensor3D, { state }));
      }
      expect(state).toBeInstanceOf(DhsaState);
      expect(maxAbsDiff(tf.concat(parts, 1), full)).toBeLessThanOrEqual(1e-5);
      state.dispose();
    }
    m.dispose();
  });

  it('the gathered path builds no [T, T] map', async () => {
    const largest = async (form: string) => {
      const m = make({ topK: 4, maxChunkSize: 4, form });
      const x = tf.randomNormal([1, 64, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const info = await tf.profile(() => m.forward(x));
      const sizes = info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((shape) => shape.reduce((p, d) => p * d, 1)),
      );
      x.dispose();
      m.dispose();
      return Math.max(...sizes);
    };
    expect(await largest('dense')).toBeGreaterThanOrEqual(2 * 64 * 64);
    expect(await largest('gather')).toBeLessThanOrEqual(2 * 64 * 4 * 4);
  });

  it('estimates exactly the parameters it builds', () => {
    for (const extra of [{}, { bias: true, boundaryHidden: 5 }, { headDim: 3 }]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
  });

  it('rejects bad configs and inputs with typed errors', () => {
    expect(() => make({ topK: 2, maxChunkSize: 3 })).toThrow(ConfigError);
    expect(() => make({ window: 0 })).toThrow(ConfigError);
    const m = make({});
    expect(() => m.forward(tf.zeros([1, 4, 7]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([1, 4, 8]) as tf.Tensor3D, { causal: false })).toThrow();
    m.dispose();
  });

  it('leaks nothing over forward, backward and decoding', async () => {
    const m = make({});
    const x = tf.randomNormal([2, 7, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const head = tf.slice(x, [0, 0, 0], [-1, 4, -1]) as tf.Tensor3D;
    const tail = tf.slice(x, [0, 4, 0], [-1, 3, -1]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      m.forward(x).dispose();
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      const state = m.initState();
      m.forward(head, { state }).dispose();
      m.forward(tail, { state }).dispose();
      state.dispose();
    });
    tf.dispose([x, head, tail]);
    m.dispose();
  });
});
