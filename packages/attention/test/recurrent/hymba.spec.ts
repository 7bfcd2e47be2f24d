import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import { HymbaState } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

type Mixer = Module & TokenMixer;

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/hymba.json'), 'utf8'),
) as {
  config: Record<string, unknown>;
  shape: [number, number, number];
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  gradWeights: Record<string, number[]>;
};

/** The fixture's layer with its weights, the config's fields overridden by `extra`. */
function load(extra: object = {}): Mixer {
  const m = build<Mixer>({ ...fixture.config, ...extra });
  const weights = Object.entries(fixture.weights).map(([n, w]) => [
    n,
    tf.tensor(w.values, w.shape),
  ]);
  m.loadStateDict(Object.fromEntries(weights));
  return m;
}

/** The layer fed `step` tokens at a time on a fresh state; the outputs concatenated. */
function decode(m: Mixer, x: tf.Tensor3D, step: number): tf.Tensor3D {
  const state = m.initState!(x.shape[0]);
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i += step) {
    const n = Math.min(step, x.shape[1] - i);
    outs.push(m.forward(tf.slice(x, [0, i, 0], [-1, n, -1]) as tf.Tensor3D, { state }));
  }
  state.dispose();
  return tf.concat(outs, 1) as tf.Tensor3D;
}

describe('hymba', () => {
  it.each([['chunk', {}] as const, ['sequential', { form: 'sequential' }] as const])(
    'form %s: output, input and parameter gradients match the PyTorch loops over [meta, x]',
    (_form, extra) => {
      tf.tidy(() => {
        const m = load(extra);
        const { shape } = fixture;
        const x = tf.tensor3d(fixture.x, shape);
        const probe = tf.tensor3d(fixture.probe, shape);
        const loss = (input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe));
        expectClose(m.forward(x), tf.tensor3d(fixture.y, shape), { atol: 3e-5, rtol: 1e-4 });
        const gradX = tf.grad(loss)(x);
        expectClose(gradX, tf.tensor3d(fixture.gradX, shape), { atol: 3e-5, rtol: 1e-4 });
        const { grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
        const params = m.namedParameters();
        for (const [name, expected] of Object.entries(fixture.gradWeights)) {
          const g = grads[params.get(name)!.name]!;
          expectClose(g, tf.tensor(expected, g.shape), { atol: 1e-4, rtol: 1e-4 });
        }
        m.dispose();
      });
    },
  );

  it('cached decoding, one token and four at a time, equals the full forward past the window', () => {
    tf.tidy(() => {
      const m = load();
      const x = tf.randomNormal([2, 10, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const full = m.forward(x);
      expect(maxAbsDiff(decode(m, x, 1), full)).toBeLessThan(1e-4);
      expect(maxAbsDiff(decode(m, x, 4), full)).toBeLessThan(1e-4);
      m.dispose();
    });
  });

  it('the meta tokens matter: the same layer without them gives other outputs', () => {
    tf.tidy(() => {
      const m = load();
      const x = tf.tensor3d(fixture.x, fixture.shape);
      const plain = build<Mixer>({ ...fixture.config, metaTokens: 0 });
      const weights = Object.entries(fixture.weights).filter(([n]) => n !== 'meta');
      plain.loadStateDict(
        Object.fromEntries(weights.map(([n, w]) => [n, tf.tensor(w.values, w.shape)])),
      );
      expect(maxAbsDiff(m.forward(x), plain.forward(x))).toBeGreaterThan(1e-2);
      m.dispose();
      plain.dispose();
    });
  });

  it('refuses a head count that does not divide expand·dModel and a foreign state, typed', () => {
    expect(() => build({ type: 'hymba', dModel: 8, numHeads: 3 })).toThrow(ConfigError);
    expect(() => build({ type: 'hymba', dModel: 8, numHeads: 2, metaTokens: -1 })).toThrow(
      ConfigError,
    );
    const m = load();
    const other = build<Mixer>({ type: 'mamba', dModel: 8, dState: 4 });
    const state = other.initState!(1);
    const x = tf.zeros([1, 2, 8]) as tf.Tensor3D;
    expect(() => m.forward(x, { state })).toThrow(/hymba/);
    expect(m.initState!(1)).toBeInstanceOf(HymbaState);
    [m, other, state, x].forEach((t) => t.dispose());
  });

  it('leaks nothing while training and decoding', async () => {
    const m = load();
    await expectNoLeaks(() => {
      const x = tf.randomNormal([1, 5, 8]) as tf.Tensor3D;
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      const state = m.initState!(1);
      m.forward(x, { state }).dispose();
      const one = tf.slice(x, [0, 0, 0], [-1, 1, -1]) as tf.Tensor3D;
      m.forward(one, { state }).dispose();
      state.dispose();
      tf.dispose([x, one]);
    });
    m.dispose();
  });
});
