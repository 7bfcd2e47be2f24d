import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, type Module, type TokenMixer } from '@attnkit/core';
import { AarenState, MambaState, type RecurrentState } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';

type Mixer = Module & TokenMixer;

interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  /** Gradients of the small parameters, by name. */
  gradWeights: Record<string, number[]>;
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/ssm.json'), 'utf8'),
) as { cases: Case[] };
const byName = (name: string) => fixture.cases.find((c) => c.name === name)!;

/** The fixture's mixer with its weights, the config's fields overridden by `extra`. */
function load(c: Case, extra: object = {}): Mixer {
  const m = build<Mixer>({ ...c.config, ...extra });
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  return m;
}

/** Output, input gradient and parameter gradients of sum(y ⊙ probe). */
function outputAndGrads(m: Mixer, x: tf.Tensor3D, probe: tf.Tensor3D) {
  const y = m.forward(x);
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe));
  const gradX = tf.grad(loss)(x);
  const { grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
  const params = m.namedParameters();
  const byParam = (name: string) => grads[params.get(name)!.name]!;
  return { y, gradX, byParam };
}

/** The mixer fed `step` tokens at a time on a fresh state; the outputs concatenated. */
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

// Every training form of each mixer (the first is the default the fixture's config uses).
const forms: Record<string, object[]> = {
  mamba: [{}, { form: 'sequential' }, { chunkSize: 16 }],
  mamba2: [{}, { form: 'parallel' }, { chunkSize: 16 }],
  aaren: [{}, { form: 'recurrent' }],
};

describe.each(['mamba', 'mamba2', 'aaren'])('%s', (name) => {
  const c = byName(name);

  it.each(forms[name]!.map((f) => [JSON.stringify(f), f] as const))(
    'form %s: output, input and parameter gradients match the PyTorch loops',
    (_label, extra) => {
      tf.tidy(() => {
        const m = load(c, extra);
        const x = tf.tensor3d(c.x, c.shape);
        const { y, gradX, byParam } = outputAndGrads(m, x, tf.tensor3d(c.probe, c.shape));
        expectClose(y, tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
        expectClose(gradX, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
        for (const [param, expected] of Object.entries(c.gradWeights)) {
          const g = byParam(param);
          expectClose(g, tf.tensor(expected, g.shape), { atol: 1e-4, rtol: 1e-4 });
        }
        m.dispose();
      });
    },
  );

  it('the chunked (parallel) and sequential (recurrent) forms agree: outputs and every gradient', () => {
    tf.tidy(() => {
      const [first, second] = forms[name]!.slice(0, 2).map((f) => load(c, f));
      const x = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
      expect(maxAbsDiff(first!.forward(x), second!.forward(x))).toBeLessThan(1e-4);
      const probe = tf.randomNormal([2, 11, 8], 0, 1, 'float32', 4);
      const loss = (m: Mixer) => () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
      const a = tf.variableGrads(loss(first!), first!.trainableParameters());
      const b = tf.variableGrads(loss(second!), second!.trainableParameters());
      const names = [...first!.namedParameters().keys()];
      const bVars = [...second!.namedParameters().values()];
      [...first!.namedParameters().values()].forEach((v, i) => {
        const diff = maxAbsDiff(a.grads[v.name]!, b.grads[bVars[i]!.name]!);
        if (!(diff <= 1e-4)) throw new Error(`${names[i]}: gradients differ by ${diff}`);
      });
      first!.dispose();
      second!.dispose();
    });
  });

  it('cached decoding, one token and four at a time, equals the full forward', () => {
    tf.tidy(() => {
      const m = load(c);
      const x = tf.randomNormal([2, 10, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const full = m.forward(x);
      expect(maxAbsDiff(decode(m, x, 1), full)).toBeLessThan(1e-4);
      expect(maxAbsDiff(decode(m, x, 4), full)).toBeLessThan(1e-4);
      m.dispose();
    });
  });

  it('its decoding state holds the same bytes after 16 and after 1,024 tokens', () => {
    const m = load(c);
    const bytesAfter = (t: number) => {
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
    const short = bytesAfter(16);
    expect(short).toBeGreaterThan(0);
    expect(bytesAfter(1024)).toBe(short);
    m.dispose();
  });

  it('refuses bad input and a foreign state with typed errors', () => {
    const m = load(c);
    tf.tidy(() => {
      expect(() => m.forward(tf.zeros([2, 8]) as unknown as tf.Tensor3D)).toThrow(ShapeError);
      expect(() => m.forward(tf.zeros([2, 3, 9]) as tf.Tensor3D)).toThrow(ShapeError);
      const x = tf.zeros([2, 3, 8]) as tf.Tensor3D;
      expect(() => m.forward(x, { causal: false })).toThrow(ConfigError);
      expect(() => m.forward(x, { mask: tf.ones([2, 1, 3, 3], 'bool') })).toThrow(ConfigError);
      const foreign = name === 'aaren' ? new MambaState() : new AarenState();
      expect(() => m.forward(x, { state: foreign })).toThrow(/context\.state/);
    });
    m.dispose();
  });
});

describe('recurrent mixer configs', () => {
  it.each([
    [{ type: 'mamba', dModel: 8, dtMin: 0.2, dtMax: 0.1 }, /dtMax/],
    [{ type: 'mamba', dModel: 8, dState: 0 }, /dState/],
    [{ type: 'mamba', dModel: 8, form: 'parallel' }, /form/],
    [{ type: 'mamba2', dModel: 8, headDim: 5 }, /headDim/],
    [{ type: 'mamba2', dModel: 8, headDim: 4, window: 2 }, /window/],
    [{ type: 'aaren', dModel: 8, numHeads: 3 }, /numHeads/],
    [{ type: 'aaren', dModel: 8, numHeads: 2, form: 'chunk' }, /form/],
  ])('%j is refused naming the field', (config, field) => {
    const before = tf.memory().numTensors;
    expect(() => build(config)).toThrow(ConfigError);
    expect(() => build(config)).toThrow(field);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Mamba starts from S4D-real A_n = n + 1 and Δ in [dtMin, dtMax]', () => {
    const m = build<Mixer & { aLog: tf.Variable; dtProj: { bias: tf.Variable } }>({
      type: 'mamba',
      dModel: 8,
      dState: 3,
      dtMin: 0.01,
      dtMax: 0.05,
    });
    expectClose(tf.exp(m.aLog), tf.tile(tf.tensor2d([[1, 2, 3]]), [16, 1]), { atol: 1e-5 });
    const dt = tf.softplus(m.dtProj.bias).dataSync();
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(0.01 - 1e-6);
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.05 + 1e-6);
    m.dispose();
  });
});
