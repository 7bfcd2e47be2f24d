import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import { HipAttention, HipAttentionState, hierarchicalTopBlocks } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/hip_reference.py (PyTorch, Algorithm 1 as a dense mask).
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
  fs.readFileSync(path.join(__dirname, '../fixtures/hip.json'), 'utf8'),
) as { cases: Case[] };

const hip = (extra: object = {}) =>
  build<HipAttention>({
    type: 'hip-attention',
    dModel: 8,
    numHeads: 2,
    blockSize: 2,
    topK: 3,
    ...extra,
  });
const input = (shape: [number, number, number], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor3D;

describe('hip-attention (Lee et al. 2024)', () => {
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
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x);
      expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      m.dispose();
    },
  );

  it('prunes hierarchically: a best block hidden behind a weak representative is lost', () => {
    // 4 blocks, keep 1: halves [0,2) and [2,4) are scored by blocks 0 and 2, so block 1 (the
    // best alone) is pruned with its chunk; a flat top-1 would keep it.
    const scores = [0, 9, 5, 1];
    expect(hierarchicalTopBlocks(4, 1, (j) => scores[j]!)).toEqual([2]);
    expect(hierarchicalTopBlocks(4, 2, (j) => scores[j]!)).toEqual([1, 2]);
    // Fewer blocks than kept: all of them.
    expect(hierarchicalTopBlocks(3, 5, () => 0)).toEqual([0, 1, 2]);
  });

  it('scores O(k log n) representatives, not n', () => {
    let calls = 0;
    const kept = hierarchicalTopBlocks(1024, 4, (j) => {
      calls++;
      return Math.sin(j);
    });
    expect(kept).toHaveLength(4);
    expect(new Set(kept).size).toBe(4);
    kept.forEach((j) => expect(j >= 0 && j < 1024).toBe(true));
    // 8 halves per level over log2(1024 / 4) = 8 levels.
    expect(calls).toBeLessThanOrEqual(8 * 8);
  });

  it.each([
    ['ragged, GQA', { numKvHeads: 1, blockSize: 3, topK: 3 }, 14],
    ['topK 3 of 8 blocks', { topK: 3 }, 16],
  ] as const)(
    '%s: the sparse form equals the dense-masked reference (outputs and gradients)',
    (_name, extra, t) => {
      const sparse = hip(extra);
      const dense = hip({ ...extra, form: 'dense' });
      dense.loadStateDict(sparse.stateDict());
      const x = input([2, t, 8], 1);
      const probe = input([2, t, 8], 2);
      expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(1e-4);
      const grads = (m: HipAttention) => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar,
        );
        value.dispose();
        const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x);
        return [gx, ...m.parameters().map((v) => grads[v.name]!)];
      };
      const a = grads(sparse);
      const b = grads(dense);
      expect(a.length).toBe(5);
      a.forEach((g, i) => expect(maxAbsDiff(g, b[i]!)).toBeLessThanOrEqual(1e-4));
      [sparse, dense].forEach((m) => m.dispose());
    },
  );

  it('with topK at least the number of blocks it is full causal attention', () => {
    const m = hip({ topK: 6 });
    const mha = build<Module & TokenMixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: true });
    mha.loadStateDict(m.stateDict());
    const x = input([1, 9, 8], 3);
    expect(maxAbsDiff(m.forward(x), mha.forward(x))).toBeLessThanOrEqual(1e-4);
    [m, mha].forEach((n) => n.dispose());
  });

  it('reports its choice to context.probe: earlier blocks only, none repeated', () => {
    const m = hip();
    const events: { name: string; value: unknown }[] = [];
    m.forward(input([1, 12, 8], 4), { probe: (e) => events.push(e) });
    expect(events.map((e) => e.name)).toEqual(['selectedBlocks[1,2,12,2]']);
    const value = events[0]!.value as number[];
    for (let row = 0; row < 24; row++) {
      const own = Math.floor((row % 12) / 2);
      const picked = value.slice(2 * row, 2 * row + 2).filter((j) => j >= 0);
      expect(picked.length).toBe(Math.min(2, own));
      expect(new Set(picked).size).toBe(picked.length);
      picked.forEach((j) => expect(j).toBeLessThan(own));
    }
    m.dispose();
  });

  it('decodes one token and uneven chunks at a time equal to the full forward', () => {
    const m = hip({ blockSize: 3, topK: 3, numKvHeads: 1 });
    const x = input([2, 19, 8], 5);
    const full = m.forward(x);
    for (const sizes of [Array(19).fill(1) as number[], [4, 1, 8, 6]]) {
      const state = m.initState();
      let at = 0;
      const parts = sizes.map((n) => {
        const y = m.forward(tf.slice(x, [0, at, 0], [-1, n, -1]) as tf.Tensor3D, { state });
        at += n;
        return y;
      });
      expect(maxAbsDiff(tf.concat(parts, 1), full)).toBeLessThanOrEqual(1e-4);
      // 19 = 6 blocks of 3 + 1: the open block holds one query.
      expect(state.openQueries!.shape).toEqual([2, 2, 1, 4]);
      expect(state).toBeInstanceOf(HipAttentionState);
      state.dispose();
    }
    m.dispose();
  });

  it('computes only the selected blocks: no [tq, tk] tensor at t = 256', async () => {
    const m = hip({ numHeads: 1, blockSize: 16, topK: 2 });
    const x = input([1, 256, 8], 7);
    const info = await tf.profile(() => m.forward(x));
    const largest = Math.max(
      ...info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((s) => s.reduce((p, d) => p * d, 1)),
      ),
    );
    expect(largest).toBeLessThanOrEqual(256 * 16 * 8);
    m.dispose();
  });

  it('training and decoding leak nothing', async () => {
    const m = hip();
    const x = input([1, 8, 8], 8);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      const state = m.initState();
      for (let t = 0; t < 3; t++) {
        const step = tf.slice(x, [0, t, 0], [-1, 1, -1]) as tf.Tensor3D;
        tf.dispose([step, m.forward(step, { state })]);
      }
      state.dispose();
    });
    m.dispose();
  });

  it('refuses bad input with typed one-line errors', () => {
    expect(() => hip({ blockSize: 0 })).toThrow(ConfigError);
    expect(() => hip({ topK: 1.5 })).toThrow(ConfigError);
    expect(() => hip({ topK: 0 })).toThrow(ConfigError);
    expect(() => hip({ form: 'fast' })).toThrow(/form/);
    expect(() => hip({ numKvHeads: 3 })).toThrow(ConfigError);
    const m = hip();
    expect(() => m.forward(tf.zeros([1, 4, 8]) as tf.Tensor3D, { causal: false })).toThrow(
      ConfigError,
    );
    expect(() => m.forward(tf.zeros([1, 4, 6]) as tf.Tensor3D)).toThrow(/dModel|8/);
    m.dispose();
  });
});
