import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import { SeerAttention, SeerAttentionState, seerGateGrads, seerGateLoss } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/seer_reference.py (PyTorch, gate choice as a dense mask).
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  shape: [number, number, number];
  gateLoss?: number;
  gradGateQ?: number[];
  gradGateK?: number[];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/seer.json'), 'utf8'),
) as { cases: Case[] };

const seer = (extra: object = {}) =>
  build<SeerAttention>({
    type: 'seer-attention',
    dModel: 8,
    numHeads: 2,
    blockSize: 2,
    topK: 2,
    ...extra,
  });
const input = (shape: [number, number, number], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor3D;

describe('seer-attention (Gao et al. 2024)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output, input gradient, gate loss and its gradient match PyTorch',
    (_name, c) => {
      const m = build<SeerAttention>(c.config);
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
      if (c.gateLoss !== undefined) {
        const { loss, grads } = seerGateGrads(m, x);
        expect(Math.abs(loss.dataSync()[0]! - c.gateLoss)).toBeLessThanOrEqual(1e-4);
        expectClose(grads.gateQ, tf.tensor(c.gradGateQ!, m.gateQ.shape), {
          atol: 3e-5,
          rtol: 1e-4,
        });
        expectClose(grads.gateK, tf.tensor(c.gradGateK!, m.gateK.shape), {
          atol: 3e-5,
          rtol: 1e-4,
        });
      }
      m.dispose();
    },
  );

  it.each([
    ['ragged, GQA', { numKvHeads: 1, blockSize: 3, topK: 2 }, 11],
    ['topK 3 of 5 blocks', { topK: 3 }, 10],
  ] as const)(
    '%s: the sparse form equals the dense-masked reference (outputs and gradients)',
    (_name, extra, t) => {
      const sparse = seer(extra);
      const dense = seer({ ...extra, form: 'dense' });
      dense.loadStateDict(sparse.stateDict());
      const x = input([2, t, 8], 1);
      const probe = input([2, t, 8], 2);
      expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(1e-4);
      const grads = (m: SeerAttention) => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar,
          m.trainableParameters(),
        );
        value.dispose();
        const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(m.forward(a as tf.Tensor3D), probe)))(x);
        return [gx, ...m.trainableParameters().map((v) => grads[v.name]!)];
      };
      const a = grads(sparse);
      const b = grads(dense);
      expect(a.length).toBe(5);
      a.forEach((g, i) => expect(maxAbsDiff(g, b[i]!)).toBeLessThanOrEqual(1e-4));
      [sparse, dense].forEach((m) => m.dispose());
    },
  );

  it('with topK at least the number of blocks it is full causal attention', () => {
    const m = seer({ topK: 9 });
    const mha = build<Module & TokenMixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: true });
    mha.loadStateDict(
      Object.fromEntries(Object.entries(m.stateDict()).filter(([n]) => !n.startsWith('gate'))),
    );
    const x = input([1, 9, 8], 3);
    expect(maxAbsDiff(m.forward(x), mha.forward(x))).toBeLessThanOrEqual(1e-4);
    [m, mha].forEach((n) => n.dispose());
  });

  it('reports its choice to context.probe: earlier blocks only, none repeated', () => {
    const m = seer({ blockSize: 2, topK: 3 });
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
    const m = seer({ blockSize: 3, topK: 2, numKvHeads: 1 });
    const x = input([2, 13, 8], 5);
    const full = m.forward(x);
    for (const sizes of [Array(13).fill(1) as number[], [4, 1, 5, 3]]) {
      const state = m.initState();
      let at = 0;
      const parts = sizes.map((n) => {
        const y = m.forward(tf.slice(x, [0, at, 0], [-1, n, -1]) as tf.Tensor3D, { state });
        at += n;
        return y;
      });
      expect(maxAbsDiff(tf.concat(parts, 1), full)).toBeLessThanOrEqual(1e-4);
      // 13 = 4 blocks of 3 + 1: the open block holds one query.
      expect(state.openQueries!.shape).toEqual([2, 2, 1, 4]);
      expect(state).toBeInstanceOf(SeerAttentionState);
      state.dispose();
    }
    m.dispose();
  });

  it('distillation: the loss reaches only the gate, and a few steps reduce it', () => {
    const m = seer({ dModel: 8, numHeads: 2, blockSize: 2, topK: 2, gateDim: 4 });
    const x = input([2, 12, 8], 6);
    // q, k, v, o are not reachable from the gate loss; the gate is not trained by the model's loss.
    expect(() => tf.variableGrads(() => seerGateLoss(m, x), m.trainableParameters())).toThrow(
      /connection/,
    );
    expect(m.gateQ.trainable || m.gateK.trainable).toBe(false);
    const before = m.stateDict();
    const first = seerGateLoss(m, x).dataSync()[0]!;
    for (let step = 0; step < 20; step++) {
      const { loss, grads } = seerGateGrads(m, x);
      m.gateQ.assign(tf.sub(m.gateQ, tf.mul(grads.gateQ, 0.5)));
      m.gateK.assign(tf.sub(m.gateK, tf.mul(grads.gateK, 0.5)));
      tf.dispose([loss, grads.gateQ, grads.gateK]);
    }
    const last = seerGateLoss(m, x).dataSync()[0]!;
    expect(first).toBeGreaterThan(0);
    expect(last).toBeLessThan(0.8 * first);
    const after = m.stateDict();
    for (const name of ['q.weight', 'k.weight', 'v.weight', 'o.weight'])
      expect(maxAbsDiff(after[name]!, before[name]!)).toBe(0);
    m.dispose();
  });

  it('computes only the selected blocks: no [tq, tk] tensor at t = 256', async () => {
    const m = seer({ numHeads: 1, blockSize: 16, topK: 2 });
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

  it('training, decoding and distillation leak nothing', async () => {
    const m = seer({ topK: 3 });
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
      seerGateLoss(m, x).dispose();
      const { loss, grads: g } = seerGateGrads(m, x);
      tf.dispose([loss, g.gateQ, g.gateK]);
    });
    m.dispose();
  });

  it('refuses bad input with typed one-line errors', () => {
    expect(() => seer({ blockSize: 0 })).toThrow(ConfigError);
    expect(() => seer({ topK: 1.5 })).toThrow(ConfigError);
    expect(() => seer({ gateDim: 0 })).toThrow(ConfigError);
    expect(() => seer({ form: 'fast' })).toThrow(/form/);
    expect(() => seer({ numKvHeads: 3 })).toThrow(ConfigError);
    const m = seer();
    expect(() => seerGateLoss(m, input([1, 7, 8], 9))).toThrow(
      /seer-attention.gateLoss: x expected a length divisible by blockSize=2, got length 7/,
    );
    expect(() => m.forward(tf.zeros([1, 4, 8]) as tf.Tensor3D, { causal: false })).toThrow(
      ConfigError,
    );
    expect(() => m.forward(tf.zeros([1, 4, 6]) as tf.Tensor3D)).toThrow(/dModel|8/);
    m.dispose();
  });
});
