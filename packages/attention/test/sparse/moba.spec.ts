import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, type Module, type TokenMixer } from '@attnkit/core';
import {
  MobaState,
  mobaAttention,
  scaledDotProductAttention,
  tokenBlockAttention,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/moba_reference.py (PyTorch, per-token gate as a dense mask).
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
  fs.readFileSync(path.join(__dirname, '../fixtures/moba.json'), 'utf8'),
) as { cases: Case[] };

const rand = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;
const mixer = (extra: object = {}) =>
  build<Module & TokenMixer>({
    type: 'moba',
    dModel: 8,
    numHeads: 2,
    blockSize: 2,
    topK: 2,
    ...extra,
  });

describe('moba (Lu et al. 2025)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match PyTorch',
    (_name, c) => {
      const m = build<Module & TokenMixer>(c.config);
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
      m.dispose();
    },
  );

  it.each([
    ['prefill, ragged', [2, 4, 11, 4], [2, 2, 11, 4], 3, 3],
    ['decode offset, GQA', [1, 4, 3, 4], [1, 2, 10, 4], 2, 3],
    ['topK beyond the blocks', [1, 2, 7, 4], [1, 2, 7, 4], 2, 9],
  ] as const)(
    '%s: the sparse form equals the dense-masked reference (outputs and gradients)',
    (_name, qShape, kShape, blockSize, topK) => {
      const [q, k, v] = [rand([...qShape], 1), rand([...kShape], 2), rand([...kShape], 3)];
      const probe = rand([qShape[0], qShape[1], qShape[2], qShape[3]], 4);
      const loss = (form: 'gather' | 'dense') => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            mobaAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
              blockSize,
              topK,
              form,
            }).output,
            probe,
          ),
        );
      const sparse = tf.grads(loss('gather'))([q, k, v]);
      const dense = tf.grads(loss('dense'))([q, k, v]);
      sparse.forEach((g, i) => expect(maxAbsDiff(g, dense[i]!)).toBeLessThanOrEqual(1e-4));
      const out = (form: 'gather' | 'dense') =>
        mobaAttention(q, k, v, { blockSize, topK, form }).output;
      expect(maxAbsDiff(out('gather'), out('dense'))).toBeLessThanOrEqual(1e-4);
    },
  );

  it('the gate picks earlier blocks only, by q · mean key, and never repeats one', () => {
    const q = rand([1, 2, 12, 4], 5);
    const k = rand([1, 2, 12, 4], 6);
    const { selected } = mobaAttention(q, k, k, { blockSize: 3, topK: 3 });
    const sel = selected.arraySync() as number[][][][];
    const kMeans = tf.mean(tf.reshape(k, [1, 2, 4, 3, 4]), 3).arraySync() as number[][][][];
    const qs = q.arraySync() as number[][][][];
    for (let h = 0; h < 2; h++) {
      for (let t = 0; t < 12; t++) {
        const own = Math.floor(t / 3);
        const picked = sel[0]![h]![t]!.filter((j) => j >= 0);
        expect(picked.length).toBe(Math.min(2, own));
        expect(new Set(picked).size).toBe(picked.length);
        const score = (j: number) =>
          qs[0]![h]![t]!.reduce((s, x, i) => s + x * kMeans[0]![h]![j]![i]!, 0);
        const rest = [...Array(own).keys()].filter((j) => !picked.includes(j));
        for (const j of picked) {
          expect(j).toBeLessThan(own);
          for (const r of rest) expect(score(j)).toBeGreaterThanOrEqual(score(r));
        }
      }
    }
  });

  it('computes only the selected blocks: no [tq, tk] tensor at tk = 256', async () => {
    const q = rand([1, 1, 256, 8], 7);
    const k = rand([1, 1, 256, 8], 8);
    const largest = async (f: () => tf.Tensor) => {
      const info = await tf.profile(f);
      return Math.max(
        ...info.kernels.flatMap((kernel) =>
          (kernel.outputShapes as number[][]).map((s) => s.reduce((p, d) => p * d, 1)),
        ),
      );
    };
    const sparse = await largest(() => mobaAttention(q, k, k, { blockSize: 16, topK: 2 }).output);
    // A zero bias keeps dense attention on the composite path, which builds [tq, tk] logits.
    const zero = tf.zeros([1, 1, 1, 1]);
    const dense = await largest(
      () => scaledDotProductAttention(q, k, k, { causal: true, bias: zero }).output,
    );
    expect(dense).toBeGreaterThanOrEqual(256 * 256);
    // Own blocks [16 blocks, 16, 16] and gated keys [256 queries, 1 block · 16, 8].
    expect(sparse).toBeLessThanOrEqual(256 * 16 * 8);
    tf.dispose([q, k, zero]);
  });

  it('decodes 13 tokens one at a time equal to the full forward, keeping block means', () => {
    const m = mixer({ blockSize: 3, topK: 2, numKvHeads: 1 });
    const x = tf.randomNormal([2, 13, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const full = m.forward(x);
    const state = m.initState!(2) as MobaState;
    const steps = [...Array(13).keys()].map((t) =>
      m.forward(tf.slice(x, [0, t, 0], [-1, 1, -1]) as tf.Tensor3D, { state }),
    );
    expect(maxAbsDiff(tf.concat(steps, 1), full)).toBeLessThanOrEqual(1e-4);
    expect(state.keyMeans!.shape).toEqual([2, 1, 4, 4]);
    state.dispose();
    m.dispose();
  });

  it('the mixer forms agree and training leaks nothing', async () => {
    const sparse = mixer({ topK: 3 });
    const dense = mixer({ topK: 3, form: 'dense' });
    dense.loadStateDict(sparse.stateDict());
    const x = tf.randomNormal([1, 9, 8], 0, 1, 'float32', 10) as tf.Tensor3D;
    expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(1e-4);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(sparse.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      const q = rand([1, 2, 5, 4], 11);
      tf.dispose([q, ...Object.values(mobaAttention(q, q, q, { blockSize: 2, topK: 2 }))]);
    });
    [sparse, dense].forEach((m) => m.dispose());
  });

  it('reports its selected blocks to context.probe', () => {
    const m = mixer({ topK: 3 });
    const events: { name: string; value: unknown }[] = [];
    m.forward(tf.randomNormal([1, 8, 8], 0, 1, 'float32', 15) as tf.Tensor3D, {
      probe: (e) => events.push(e),
      path: 'layers.0.mixer',
    });
    expect(events.map((e) => e.name)).toEqual(['selectedBlocks[1,2,8,2]']);
    const value = events[0]!.value as number[];
    // Position t (block ⌊t/2⌋) picks among the blocks before its own: -1 while there are none.
    expect(value.slice(0, 4)).toEqual([-1, -1, -1, -1]);
    expect(value.every((j, i) => j < Math.floor((Math.floor(i / 2) % 8) / 2))).toBe(true);
    m.dispose();
  });

  it('refuses bad input with typed one-line errors', () => {
    expect(() => mixer({ blockSize: 0 })).toThrow(ConfigError);
    expect(() => mixer({ topK: 1.5 })).toThrow(ConfigError);
    expect(() => mixer({ form: 'fast' })).toThrow(/form/);
    expect(() => mixer({ numKvHeads: 3, numHeads: 2 })).toThrow(ConfigError);
    const q = rand([1, 2, 6, 4], 12);
    const bad = (options: object) => () =>
      mobaAttention(q, q, q, { blockSize: 2, topK: 2, ...options });
    expect(bad({ blockSize: 0 })).toThrow(/mobaAttention: blockSize/);
    expect(bad({ topK: 0 })).toThrow(/mobaAttention: topK/);
    expect(bad({ keyMeans: tf.zeros([1, 2, 2, 4]) })).toThrow(ShapeError);
    expect(() => mobaAttention(q, q, rand([1, 2, 5, 4], 13), { blockSize: 2, topK: 2 })).toThrow(
      ShapeError,
    );
    const selected = tf.fill([1, 2, 6, 1], 3, 'int32') as tf.Tensor4D;
    expect(() => tokenBlockAttention(q, q, q, { blockSize: 2, selected })).toThrow(
      /tokenBlockAttention: selected expected key-block indices in -1\.\.2/,
    );
    const twice = tf.tensor4d([0, 0, 0, 1], [1, 2, 1, 2], 'int32');
    const one = rand([1, 2, 1, 4], 14);
    expect(() => tokenBlockAttention(one, q, q, { blockSize: 2, selected: twice })).toThrow(
      /selected expected distinct key blocks per query, got \[0,0\] at row 0/,
    );
    const m = mixer();
    expect(() => m.forward(tf.zeros([1, 4, 8]) as tf.Tensor3D, { causal: false })).toThrow(
      ConfigError,
    );
    m.dispose();
  });
});
