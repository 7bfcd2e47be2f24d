import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';

type Mixer = Module & TokenMixer;

const c = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/afa.json'), 'utf8')) as {
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  gradWeights: Record<string, number[]>;
  shape: [number, number, number];
};

function load(): Mixer {
  const m = build<Mixer>(c.config);
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  return m;
}

describe('adaptive-filter-attention', () => {
  it('matches the complex PyTorch loops (pulled-forward keys, DLE variance): output and gradients', () => {
    tf.tidy(() => {
      const m = load();
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe));
      expectClose(tf.grad(loss)(x), tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      const { grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
      const params = m.namedParameters();
      for (const [name, expected] of Object.entries(c.gradWeights)) {
        const g = grads[params.get(name)!.name]!;
        expectClose(g, tf.tensor(expected, g.shape), { atol: 1e-4, rtol: 1e-4 });
      }
      m.dispose();
    });
  });

  it('cached decoding, one token and four at a time, equals the full forward', () => {
    tf.tidy(() => {
      const m = load();
      const x = tf.randomNormal([2, 10, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const full = m.forward(x);
      for (const step of [1, 4]) {
        const state = m.initState!(2);
        const outs: tf.Tensor[] = [];
        for (let i = 0; i < 10; i += step) {
          const n = Math.min(step, 10 - i);
          outs.push(m.forward(tf.slice(x, [0, i, 0], [-1, n, -1]) as tf.Tensor3D, { state }));
        }
        state.dispose();
        expect(maxAbsDiff(tf.concat(outs, 1), full)).toBeLessThan(1e-4);
      }
      m.dispose();
    });
  });

  it("a faster decay forgets: with a large μ each output is close to its own token's estimate", () => {
    tf.tidy(() => {
      const m = load();
      const x = tf.randomNormal([1, 6, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
      const changed = tf.concat(
        [tf.ones([1, 1, 8]), tf.slice(x, [0, 1, 0], [-1, 5, -1])],
        1,
      ) as tf.Tensor3D;
      const last = (y: tf.Tensor) => tf.slice(y, [0, 5, 0], [-1, 1, -1]);
      const effect = () => maxAbsDiff(last(m.forward(x)), last(m.forward(changed)));
      const slow = effect();
      m.loadStateDict({ ...m.stateDict(), decay: tf.fill([2], 4) });
      expect(effect()).toBeLessThan(slow / 10);
      m.dispose();
    });
  });

  it.each([
    [{ numHeads: 3 }, /numHeads/],
    [{ numHeads: 8 }, /headDim/],
    [{ numHeads: 2, headDim: 3 }, /headDim/],
  ])('refuses %j naming the field', (extra, field) => {
    const config = { type: 'adaptive-filter-attention', dModel: 8, ...extra };
    expect(() => build(config)).toThrow(ConfigError);
    expect(() => build(config)).toThrow(field);
  });
});
