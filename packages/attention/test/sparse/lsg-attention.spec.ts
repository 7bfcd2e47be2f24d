import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, build } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { groupMeans, lsgKeys, type LsgLayout } from '@attnkit/attention';
import { randomInput, type Mixer } from '../helpers';

const TOL = 1e-4;

// Fixture: tools/reference/attention/lsg_reference.py (PyTorch, float64, a dense mask).
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  global: number[];
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  gradGlobal: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/lsg.json'), 'utf8'),
) as { cases: Case[] };

describe('lsg-attention against PyTorch', () => {
  it.each(
    fixture.cases.flatMap((c) => ['gather', 'dense'].map((form) => [c.name, form, c] as const)),
  )('%s (%s form): output, input and global-token gradients', (_name, form, c) => {
    const m = build<Mixer>({ ...c.config, form });
    const d = c.shape[2];
    const g = c.config.numGlobalTokens as number;
    m.loadStateDict({
      ...Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor2d(w, [d, d])])),
      global: tf.tensor2d(c.global, [g, d]),
    });
    const x = tf.tensor3d(c.x, c.shape);
    const probe = tf.tensor3d(c.probe, c.shape);
    const tol = { atol: TOL, rtol: 1e-3 };
    expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), tol);
    const f = () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
    const { grads } = tf.variableGrads(f);
    const global = [...m.namedParameters()].find(([n]) => n === 'global')![1];
    expectClose(grads[global.name]!, tf.tensor2d(c.gradGlobal, [g, d]), tol);
    const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x);
    expectClose(gx, tf.tensor3d(c.gradX, c.shape), tol);
    m.dispose();
  });
});

const base = { type: 'lsg-attention', dModel: 16, numHeads: 4, blockSize: 4, sparsityFactor: 2 };
const make = (config: Record<string, unknown>, form: string) =>
  build<Mixer>({ ...base, ...config, form }, { rng: new Rng(11) });
const variants: Record<string, Record<string, unknown>> = {
  pooling: { sparsityType: 'pooling', sparseTokens: 2, numGlobalTokens: 2 },
  stride: { sparsityType: 'stride', sparseTokens: 3, numGlobalTokens: 1 },
  'no global, default sparse tokens': { numGlobalTokens: 0 },
};

describe.each(Object.entries(variants))('lsg-attention (%s)', (_name, config) => {
  it('gather path equals the dense-masked reference: output, input and parameter gradients', () => {
    const sparse = make(config, 'gather');
    const dense = make(config, 'dense');
    const x = randomInput(29, 2); // not a multiple of blockSize or of the factor: short tails
    const probe = tf.randomNormal([2, 29, 16], 0, 1, 'float32', 9);
    expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(TOL);
    const grads = (m: Mixer) => {
      const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar);
      const byName = new Map([...m.namedParameters()].map(([n, v]) => [n, g[v.name]!]));
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x);
      return { dx, byName };
    };
    const gs = grads(sparse);
    const gd = grads(dense);
    expect(maxAbsDiff(gs.dx, gd.dx)).toBeLessThanOrEqual(TOL);
    expect([...gs.byName.keys()]).toEqual([...gd.byName.keys()]);
    for (const [name, g] of gs.byName) {
      expect([name, maxAbsDiff(g, gd.byName.get(name)!) <= TOL]).toEqual([name, true]);
    }
    sparse.dispose();
    dense.dispose();
  });

  it('is bidirectional: a late token changes an early output', () => {
    const m = make(config, 'gather');
    const x = randomInput(12, 3);
    const bumped = tf.concat([tf.slice(x, [0, 0, 0], [-1, 11, -1]), randomInput(1, 4)], 1);
    const early = (y: tf.Tensor) => tf.slice(y, [0, 0, 0], [-1, 1, -1]);
    // Query 0's window is tokens 0..7; token 11 is in its right sparse groups (every variant).
    expect(
      maxAbsDiff(early(m.forward(x)), early(m.forward(bumped as tf.Tensor3D))),
    ).toBeGreaterThan(0);
    m.dispose();
  });

  it('leaks nothing over forward and backward', async () => {
    const m = make(config, 'gather');
    const x = randomInput(13, 5);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  });
});

describe('the LSG pattern', () => {
  const layout = (sparsityType: 'stride' | 'pooling', time: number): LsgLayout => ({
    time,
    blockSize: 4,
    sparsityFactor: 2,
    sparseTokens: 2,
    sparsityType,
    numGlobalTokens: 3,
  });

  it('each query sees the globals, its neighbour blocks and at most 2s sparse slots, whatever T', () => {
    for (const type of ['stride', 'pooling'] as const) {
      for (const t of [9, 64, 129]) {
        const l = layout(type, t);
        for (let i = 0; i < t; i++) {
          for (let h = 0; h < 4; h++) {
            const keys = [...lsgKeys(h, i, l)];
            expect(keys.length).toBeLessThanOrEqual(3 + 3 * 4 + 2 * 2); // G + 3b + 2s
            expect(new Set(keys).size).toBe(keys.length);
            expect(keys.slice(0, 3)).toEqual([0, 1, 2]);
            const m = Math.floor(i / 4);
            const tokens = keys.filter((j) => j >= 3 && j < 3 + t).map((j) => j - 3);
            const local = tokens.filter((j) => Math.abs(Math.floor(j / 4) - m) <= 1);
            // The whole local window (clipped at the ends), and the sparse rest outside it.
            expect(local).toEqual(
              [...Array(t).keys()].filter((j) => Math.abs(Math.floor(j / 4) - m) <= 1),
            );
            const sparse = type === 'stride' ? tokens.filter((j) => !local.includes(j)) : [];
            for (const j of sparse) expect(j % 2).toBe(h % 2);
            const pooled = keys.filter((j) => j >= 3 + t);
            if (type === 'stride') expect(pooled).toEqual([]);
            for (const p of pooled) expect(p - 3 - t).toBeLessThan(Math.ceil(t / 2));
          }
        }
      }
    }
  });

  it('strided heads h and h + 1 together read every token of the groups they select', () => {
    const l = layout('stride', 64);
    const seen = new Set([...lsgKeys(0, 40, l), ...lsgKeys(1, 40, l)]);
    // Block 10 (tokens 40..43, window 36..47): groups 16, 17 on the left, 24, 25 on the right.
    for (const j of [32, 33, 34, 35, 48, 49, 50, 51]) expect(seen.has(3 + j)).toBe(true);
    expect(seen.has(3 + 31)).toBe(false);
    expect(seen.has(3 + 52)).toBe(false);
  });

  it('groupMeans averages groups of f, the last one short', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5], [1, 1, 5, 1]);
    const y = groupMeans(x, 2);
    expect(Array.from(y.dataSync())).toEqual([1.5, 3.5, 5]);
    tf.dispose([x, y]);
  });
});

describe('lsg-attention bad input', () => {
  it('rejects bad configs with typed errors', () => {
    const bad = [
      { blockSize: 3, sparsityFactor: 2 }, // the factor does not divide the block
      { sparsityType: 'lsh' },
      { blockSize: 0 },
      { sparseTokens: -1 },
      { numGlobalTokens: 1.5 },
      { form: 'sparse' },
    ];
    for (const config of bad) expect(() => build({ ...base, ...config })).toThrow(ConfigError);
  });

  it('rejects x of the wrong width or rank, and causal, state or mask contexts, typed', () => {
    const m = make({}, 'gather');
    const x = tf.zeros([1, 5, 16]) as tf.Tensor3D;
    const wide = tf.zeros([1, 5, 8]) as tf.Tensor3D;
    const flat = tf.zeros([5, 16]) as unknown as tf.Tensor3D;
    expect(() => m.forward(wide)).toThrow(ShapeError);
    expect(() => m.forward(flat)).toThrow(ShapeError);
    expect(() => m.forward(x, { causal: true })).toThrow(ConfigError);
    expect(() => m.forward(x, { mask: tf.ones([1, 1, 5, 5], 'bool') })).toThrow(ConfigError);
    const state = build<Mixer>({
      type: 's2-attention',
      dModel: 16,
      numHeads: 4,
      numShards: 2,
      window: 2,
    }).initState!(1);
    expect(() => m.forward(x, { state })).toThrow(ConfigError);
    tf.dispose([x, wide, flat]);
    state.dispose();
    m.dispose();
  });
});
