import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  build,
  type Module,
  type PositionalEncoding,
  type TokenMixer,
} from '@attnkit/core';
import '@attnkit/attention';
import type { Mega, RecurrentState } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';

type Mixer = Module & TokenMixer;

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  ema: number[];
  gradX: number[];
  gradWeights: Record<string, number[]>;
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/mega.json'), 'utf8'),
) as { cases: Case[] };

function load(c: Case, extra: object = {}): Mega {
  const m = build<Mega>({ ...c.config, ...extra });
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  return m;
}

/** The mixer fed `step` tokens at a time on a fresh state; the outputs concatenated. */
function decode(m: Mixer, x: tf.Tensor3D, step: number, extra: object = {}): tf.Tensor3D {
  const state = m.initState!(x.shape[0]);
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i += step) {
    const n = Math.min(step, x.shape[1] - i);
    outs.push(m.forward(tf.slice(x, [0, i, 0], [-1, n, -1]) as tf.Tensor3D, { state, ...extra }));
  }
  state.dispose();
  return tf.concat(outs, 1) as tf.Tensor3D;
}

// Encodings that do real work: a tiny RoPE on pairs (2i, 2i+1) and a distance bias.
const rotary: PositionalEncoding = {
  kind: 'rotate',
  rotate: (x, positions) =>
    tf.tidy(() => {
      const half = x.shape[3] / 2;
      const angle = tf.reshape(tf.mul(tf.cast(positions, 'float32'), 0.3), [1, 1, -1, 1]);
      const [a, b] = tf.split(x, [half, half], 3);
      const [cos, sin] = [tf.cos(angle), tf.sin(angle)];
      return tf.concat(
        [tf.sub(tf.mul(a!, cos), tf.mul(b!, sin)), tf.add(tf.mul(b!, cos), tf.mul(a!, sin))],
        3,
      ) as tf.Tensor4D;
    }),
};
const distance: PositionalEncoding = {
  kind: 'bias',
  bias: (qp, kp) =>
    tf.tidy(() =>
      tf.mul(
        -0.2,
        tf.abs(
          tf.sub(
            tf.reshape(tf.cast(qp, 'float32'), [-1, 1]),
            tf.reshape(tf.cast(kp, 'float32'), [1, -1]),
          ),
        ),
      ),
    ),
};

describe.each(fixture.cases.map((c) => [c.name, c] as const))('mega %s', (_name, c) => {
  it('matches the PyTorch loops: EMA, output, input and small-parameter gradients', () => {
    tf.tidy(() => {
      const m = load(c);
      const x = tf.tensor3d(c.x, c.shape);
      const probe = tf.tensor3d(c.probe, c.shape);
      expectClose(m.movingAverage(x).output, tf.tensor3d(c.ema, c.shape), {
        atol: 3e-5,
        rtol: 1e-4,
      });
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

  // 150 tokens: two whole EMA chunks of 64 and a shorter one; a state carried into a long input.
  it('the chunked and sequential EMA scans agree: outputs and every gradient ≤ 1e-4', () => {
    tf.tidy(() => {
      const [first, second] = [load(c), load(c, { form: 'sequential' })];
      const x = tf.randomNormal([2, 150, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
      const full = second.forward(x);
      expect(maxAbsDiff(first.forward(x), full)).toBeLessThan(1e-4);
      const state = first.initState!(2);
      const pieces = [5, 145].map((n, i) =>
        first.forward(tf.slice(x, [0, i * 5, 0], [-1, n, -1]) as tf.Tensor3D, { state }),
      );
      expect(maxAbsDiff(tf.concat(pieces, 1), full)).toBeLessThan(1e-4);
      state.dispose();
      const probe = tf.randomNormal([2, 150, 8], 0, 1, 'float32', 4);
      const loss = (m: Mixer) => () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
      const a = tf.variableGrads(loss(first));
      const b = tf.variableGrads(loss(second));
      const other = second.namedParameters();
      for (const [name, v] of first.namedParameters()) {
        const diff = maxAbsDiff(a.grads[v.name]!, b.grads[other.get(name)!.name]!);
        if (!(diff <= 1e-4)) throw new Error(`${name}: gradients differ by ${diff}`);
      }
      first.dispose();
      second.dispose();
    });
  });

  it.each([
    ['no encoding', {}],
    ['a rotary encoding', { positional: rotary }],
    ['a bias encoding', { positional: distance }],
  ])(
    'cached decoding, one token and three at a time, equals the full forward with %s',
    (_l, extra) => {
      tf.tidy(() => {
        const m = load(c);
        const x = tf.randomNormal([2, 10, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
        const full = m.forward(x, extra);
        expect(maxAbsDiff(decode(m, x, 1, extra), full)).toBeLessThan(1e-4);
        expect(maxAbsDiff(decode(m, x, 3, extra), full)).toBeLessThan(1e-4);
        m.dispose();
      });
    },
  );
});

describe('mega', () => {
  const config = { type: 'mega', dModel: 8, zDim: 4, vDim: 8, emaDim: 2 };

  it('chunked, the state is bounded (the same bytes after 16 and 1,024 tokens); unchunked it grows', () => {
    const bytesAfter = (m: Mixer, t: number) => {
      const state = m.initState!(1) as RecurrentState;
      tf.tidy(() => {
        const x = tf.randomNormal([1, t, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
        m.forward(x, { state });
        m.forward(tf.slice(x, [0, 0, 0], [-1, 1, -1]) as tf.Tensor3D, { state });
      });
      const { bytes, length } = state;
      state.dispose();
      expect(length).toBe(t + 1);
      return bytes;
    };
    const chunked = build<Mixer>({ ...config, chunkSize: 4 });
    expect(chunked.capabilities!.stateGrowth).toBe('constant');
    expect(bytesAfter(chunked, 1024)).toBe(bytesAfter(chunked, 16));
    const full = build<Mixer>(config);
    expect(full.capabilities!.stateGrowth).toBe('linear');
    expect(bytesAfter(full, 64)).toBeGreaterThan(bytesAfter(full, 16));
    chunked.dispose();
    full.dispose();
  });

  it('a chunk at least as long as the input is full causal attention', () => {
    tf.tidy(() => {
      const full = build<Mixer>(config);
      const chunked = build<Mixer>({ ...config, chunkSize: 9 });
      chunked.loadStateDict(full.stateDict());
      const x = tf.randomNormal([2, 9, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
      expect(maxAbsDiff(chunked.forward(x), full.forward(x))).toBeLessThan(1e-6);
      const shorter = build<Mixer>({ ...config, chunkSize: 3 });
      shorter.loadStateDict(full.stateDict());
      expect(maxAbsDiff(shorter.forward(x), full.forward(x))).toBeGreaterThan(1e-4);
      [full, chunked, shorter].forEach((m) => m.dispose());
    });
  });

  it.each([
    [{ attention: 'relu2' }, /attention/],
    [{ chunkSize: 0 }, /chunkSize/],
    [{ emaDim: 0 }, /emaDim/],
  ])('refuses %j naming the field', (extra, field) => {
    expect(() => build({ ...config, ...extra })).toThrow(ConfigError);
    expect(() => build({ ...config, ...extra })).toThrow(field);
  });

  it('is causal only', () => {
    const m = build<Mixer>(config);
    tf.tidy(() => {
      expect(() => m.forward(tf.zeros([1, 3, 8]) as tf.Tensor3D, { causal: false })).toThrow(
        ConfigError,
      );
    });
    m.dispose();
  });
});
