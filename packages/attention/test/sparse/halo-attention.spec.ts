import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, build } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { haloLayout } from '@attnkit/attention';
import { randomInput, type Mixer } from '../helpers';

const TOL = 1e-4;

// Fixture: tools/reference/attention/halo_reference.py (PyTorch, float64, padded windows).
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, number[]>;
  relative: Record<string, number[]>;
  gradRelative: Record<string, number[]>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/halo.json'), 'utf8'),
) as { cases: Case[] };

describe('halo-attention against PyTorch', () => {
  it.each(
    fixture.cases.flatMap((c) => ['gather', 'dense'].map((form) => [c.name, form, c] as const)),
  )('%s (%s form): output, input and relative-embedding gradients', (_name, form, c) => {
    const m = build<Mixer>({ ...c.config, form });
    const d = c.shape[2];
    const headDim = d / (c.config.numHeads as number);
    const rel = (values: number[]) => tf.tensor2d(values, [values.length / headDim, headDim]);
    m.loadStateDict({
      ...Object.fromEntries(Object.entries(c.weights).map(([n, w]) => [n, tf.tensor2d(w, [d, d])])),
      ...Object.fromEntries(Object.entries(c.relative).map(([n, r]) => [n, rel(r)])),
    });
    const x = tf.tensor3d(c.x, c.shape);
    const probe = tf.tensor3d(c.probe, c.shape);
    const tol = { atol: TOL, rtol: 1e-3 };
    expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), tol);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar);
    const params = new Map(m.namedParameters());
    for (const [name, g] of Object.entries(c.gradRelative)) {
      expectClose(grads[params.get(name)!.name]!, rel(g), tol);
    }
    const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x);
    expectClose(gx, tf.tensor3d(c.gradX, c.shape), tol);
    m.dispose();
  });
});

const base = { type: 'halo-attention', dModel: 16, numHeads: 4 };
const make = (config: Record<string, unknown>, form: string) =>
  build<Mixer>({ ...base, ...config, form }, { rng: new Rng(11) });
const variants: [string, Record<string, unknown>, number][] = [
  ['1-D', { blockSize: 4, halo: 3 }, 12],
  ['1-D, no halo, no relative', { blockSize: 5, halo: 0, relativePositions: false }, 15],
  ['2-D', { blockSize: 2, halo: 1, grid: [4, 4] }, 16],
  ['2-D, halo past the grid', { blockSize: 2, halo: 3, grid: [2, 4] }, 8],
];

describe.each(variants)('halo-attention (%s)', (_name, config, t) => {
  it('blocked path equals the dense-masked reference: output, input and parameter gradients', () => {
    const sparse = make(config, 'gather');
    const dense = make(config, 'dense');
    const x = randomInput(t, 2);
    const probe = tf.randomNormal([2, t, 16], 0, 1, 'float32', 9);
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

  it('leaks nothing over forward and backward', async () => {
    const m = make(config, 'gather');
    const x = randomInput(t, 5);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  });
});

describe('the halo layout', () => {
  it('1-D: block n reads tokens n·b − h .. n·b + b + h − 1, the rest padding (−1)', () => {
    const l = haloLayout([12], 4, 2);
    expect([l.blocks, l.queries, l.window]).toEqual([3, 4, 8]);
    expect(Array.from(l.queryTokens)).toEqual([...Array(12).keys()]);
    expect(Array.from(l.keyTokens.slice(0, 8))).toEqual([-1, -1, 0, 1, 2, 3, 4, 5]);
    expect(Array.from(l.keyTokens.slice(8, 16))).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(l.keyTokens.slice(16))).toEqual([6, 7, 8, 9, 10, 11, -1, -1]);
  });

  it('2-D: queries are b×b squares of the row-major grid, windows (b + 2h)² around them', () => {
    const l = haloLayout([4, 6], 2, 1);
    expect([l.blocks, l.queries, l.window]).toEqual([6, 4, 16]);
    expect(Array.from(l.queryTokens.slice(4, 8))).toEqual([2, 3, 8, 9]); // block (0, 1)
    expect([...l.queryTokens].sort((a, b) => a - b)).toEqual([...Array(24).keys()]);
    // Block (1, 1): rows 1..4, cols 1..4; row 4 lies past the grid.
    const w = Array.from(l.keyTokens.slice(4 * 16, 5 * 16));
    expect(w).toEqual([7, 8, 9, 10, 13, 14, 15, 16, 19, 20, 21, 22, -1, -1, -1, -1]);
    // Each query's relative index is the key offset + b − 1 + h, within the 2(b + h) − 1 rows.
    for (const table of l.relative) {
      expect(Math.min(...table)).toBe(0);
      expect(Math.max(...table)).toBe(2 * (2 + 1) - 2);
    }
  });
});

describe('halo-attention bad input', () => {
  it('rejects bad configs with typed errors', () => {
    const bad = [
      { blockSize: 4, halo: 1, grid: [4, 6] }, // the block does not divide the grid
      { blockSize: 0, halo: 1 },
      { blockSize: 2, halo: -1 },
      { blockSize: 2, halo: 1, grid: [4] },
      { blockSize: 2, halo: 1, form: 'sparse' },
    ];
    for (const config of bad) expect(() => build({ ...base, ...config })).toThrow(ConfigError);
  });

  it('rejects a length the block does not divide, a length off the grid, and contexts, typed', () => {
    const m = make({ blockSize: 4, halo: 1 }, 'gather');
    const grid = make({ blockSize: 2, halo: 1, grid: [2, 4] }, 'gather');
    const x = tf.zeros([1, 8, 16]) as tf.Tensor3D;
    const odd = tf.zeros([1, 6, 16]) as tf.Tensor3D;
    expect(() => m.forward(odd)).toThrow(ShapeError);
    expect(() => grid.forward(odd)).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([1, 8, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(x, { causal: true })).toThrow(ConfigError);
    expect(() => m.forward(x, { mask: tf.ones([1, 1, 8, 8], 'bool') })).toThrow(ConfigError);
    tf.dispose([x, odd]);
    m.dispose();
    grid.dispose();
  });
});
