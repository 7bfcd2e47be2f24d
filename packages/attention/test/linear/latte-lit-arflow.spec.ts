import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import {
  HybridChunkState,
  LatteState,
  LitState,
  latentMixtureGated,
  latentMixtureProducts,
} from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';

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
  fs.readFileSync(path.join(__dirname, '../fixtures/latte-lit-arflow.json'), 'utf8'),
) as { cases: Case[] };

type Mixer = Module & TokenMixer;

function load(c: Case, extra: object = {}): Mixer {
  const m = build<Mixer>({ ...c.config, ...extra });
  m.loadStateDict(
    Object.fromEntries(
      Object.entries(c.weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]),
    ),
  );
  return m;
}

/** Token-by-token decoding through the mixer's state, under a gradient tape if one is open. */
function decode(m: Mixer, x: tf.Tensor3D, step = 1): tf.Tensor3D {
  const [b, t, d] = x.shape;
  const state = m.initState!(b);
  const outs: tf.Tensor3D[] = [];
  for (let i = 0; i < t; i += step) {
    const n = Math.min(step, t - i);
    outs.push(m.forward(tf.slice(x, [0, i, 0], [b, n, d]), { state }));
  }
  state.dispose();
  return tf.concat(outs, 1);
}

/** The output of `run` and the gradients of a probe-weighted sum for x and every parameter. */
function outputAndGrads(m: Mixer, x: tf.Tensor3D, run: (x: tf.Tensor3D) => tf.Tensor) {
  const probe = tf.randomNormal(x.shape, 0, 1, 'float32', 11);
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(run(input as tf.Tensor3D), probe));
  const { value, grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
  value.dispose();
  const gx = tf.grad(loss)(x);
  return { y: run(x), grads: [gx, ...m.trainableParameters().map((p) => grads[p.name]!)] };
}

const FORMS: Record<string, [string, object][]> = {
  latte: [
    ['chunk, one chunk', {}],
    ['chunk, chunkSize 2', { chunkSize: 2 }],
    ['parallel', { form: 'parallel' }],
  ],
  lit: [
    ['chunk, one chunk', {}],
    ['chunk, chunkSize 2', { chunkSize: 2 }],
    ['parallel', { form: 'parallel' }],
  ],
  'arflow-hybrid': [
    ['chunk', {}],
    ['parallel', { form: 'parallel' }],
  ],
};

describe('latte, lit and arflow-hybrid: golden values from float64 PyTorch loops', () => {
  for (const c of fixture.cases) {
    it.each(FORMS[c.config.type as string]!)(
      `${c.name} (%s): output and input gradient match`,
      (_form, extra) => {
        const m = load(c, extra);
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
  }
});

describe('forms agree: parallel == chunk == recurrent decoding (outputs and all gradients <= 1e-4)', () => {
  const causal = fixture.cases.filter((c) => c.config.causal !== false && !/large/.test(c.name));
  it.each(causal.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const x = tf.randomNormal([2, 8, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
    const chunk = load(c, { chunkSize: 3 });
    const parallel = load(c, { form: 'parallel' });
    const reference = outputAndGrads(parallel, x, (i) => parallel.forward(i));
    const runs = [
      outputAndGrads(chunk, x, (i) => chunk.forward(i)),
      outputAndGrads(chunk, x, (i) => decode(chunk, i)),
      outputAndGrads(chunk, x, (i) => decode(chunk, i, 3)),
    ];
    for (const run of runs) {
      expect(maxAbsDiff(run.y, reference.y)).toBeLessThanOrEqual(1e-4);
      run.grads.forEach((g, i) => {
        expect(maxAbsDiff(g, reference.grads[i]!)).toBeLessThanOrEqual(1e-4);
      });
    }
    [chunk, parallel].forEach((m) => m.dispose());
  });
});

describe("latte's chunk forms: gated linear attention == products over [chunk, chunk, L]", () => {
  // The backend picks one (the gated form where it has the gated recurrence kernel); both must
  // give the same outputs, state and gradients, with and without a carried state.
  it.each([
    ['one chunk, no state', 8, 8, false],
    ['chunks of 3 over 7 tokens, carried state, large logits', 3, 7, true],
    ['chunks of 1 over 4 tokens, carried state', 1, 4, true],
  ] as const)('%s', (_name, chunkSize, t, withState) => {
    const [b, h, latents, dv] = [2, 2, 3, 5];
    const before = tf.memory().numTensors;
    const p = tf.tidy(() => tf.softmax(tf.randomNormal([b, h, t, latents], 0, 1, 'float32', 1)));
    const keys = tf.randomNormal([b, h, t, latents], 0, withState ? 30 : 1, 'float32', 2);
    const values = tf.randomNormal([b, h, t, dv], 0, 1, 'float32', 3) as tf.Tensor4D;
    const initial = withState
      ? {
          max: tf.randomNormal([b, h, latents], 0, 30, 'float32', 4),
          numerator: tf.randomNormal([b, h, latents, dv], 0, 1, 'float32', 5),
          denominator: tf.randomUniform([b, h, latents], 1, 3, 'float32', 6),
        }
      : undefined;
    const probe = tf.randomNormal([b, h, t, dv], 0, 1, 'float32', 7);
    const run = (form: typeof latentMixtureGated) => {
      const loss = (pp: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) =>
        tf.sum(
          tf.mul(
            form(pp as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, chunkSize, initial)
              .output,
            probe,
          ),
        );
      const { output, state } = form(
        p as tf.Tensor4D,
        keys as tf.Tensor4D,
        values,
        chunkSize,
        initial,
      );
      const grads = tf.grads(loss)([p, keys, values]);
      return [output, state.max, state.numerator, state.denominator, ...grads];
    };
    const gated = run(latentMixtureGated);
    const products = run(latentMixtureProducts);
    gated.forEach((g, i) => expectClose(g, products[i]!, { atol: 1e-4, rtol: 1e-4 }));
    tf.dispose([...gated, ...products, p, keys, values, probe]);
    if (initial) tf.dispose(Object.values(initial));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('states and refusals', () => {
  it('latte: constant state; a state with causal: false is refused; huge key logits stay finite', () => {
    const m = build<Mixer>({ type: 'latte', dModel: 8, numHeads: 2, numLatents: 3 });
    const state = m.initState!(1) as LatteState;
    const x = tf.randomNormal([1, 5, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    m.forward(tf.slice(x, [0, 0, 0], [1, 2, 8]), { state });
    const bytes = state.bytes;
    m.forward(tf.slice(x, [0, 2, 0], [1, 3, 8]), { state });
    expect(state.bytes).toBe(bytes);
    expect(() => m.forward(x, { state, causal: false })).toThrow(ConfigError);
    expect(() => m.forward(x, { state, causal: false })).toThrow(/latte: context\.causal/);
    state.dispose();
    const big = tf.mul(x, 1e4) as tf.Tensor3D;
    for (const causal of [true, false]) {
      expect(tf.all(tf.isFinite(m.forward(big, { causal }))).dataSync()[0]).toBe(1);
    }
    m.dispose();
  });

  it('lit: an even kernel is refused before allocating; the bidirectional conv sees the next tokens', () => {
    const before = tf.memory().numTensors;
    expect(() => build({ type: 'lit', dModel: 8, numHeads: 2, convKernel: 4 })).toThrow(
      /lit: \$\.convKernel expected an odd kernel size, got 4/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const m = build<Mixer>({ type: 'lit', dModel: 8, numHeads: 2, causal: false });
    expect(m.capabilities!.decoding).toBe(false);
    expect(m.capabilities!.causal).toBe('never');
    const x = tf.randomNormal([1, 6, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [1, 5, 8]), tf.ones([1, 1, 8])], 1);
    // Bidirectional: the last token reaches the first outputs (through the attention and the conv).
    const head = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [1, 5, 8]);
    expect(maxAbsDiff(head(m.forward(x)), head(m.forward(changed as tf.Tensor3D)))).toBeGreaterThan(
      1e-4,
    );
    const s = new LitState();
    expect(() => m.forward(x, { state: s })).toThrow(ConfigError);
    s.dispose();
    m.dispose();
  });

  it('arflow-hybrid: the state holds S and at most chunkSize-1 open keys', () => {
    const m = build<Mixer>({
      type: 'arflow-hybrid',
      dModel: 8,
      numHeads: 2,
      chunkSize: 3,
    });
    const state = m.initState!(1) as HybridChunkState;
    const x = tf.randomNormal([1, 7, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
    const open: number[] = [];
    for (let i = 0; i < 7; i++) {
      m.forward(tf.slice(x, [0, i, 0], [1, 1, 8]), { state });
      open.push(state.open?.keys.shape[2] ?? 0);
    }
    expect(open).toEqual([1, 2, 0, 1, 2, 0, 1]);
    expect(state.kv!.shape).toEqual([1, 2, 4, 4]);
    state.dispose();
    expect(() => m.forward(x, { causal: false })).toThrow(ConfigError);
    m.dispose();
  });
});
