import * as tf from '@tensorflow/tfjs-core';
import { linearRecurrence, logSumExpScan, type LogSumExpState } from '@attnkit/attention';
import {
  expectClose,
  expectNoLeaks,
  finiteDifferenceCheck,
  maxAbsDiff,
} from '@attnkit/core/testing';

const uniform = (shape: number[], lo: number, hi: number, seed: number) =>
  tf.randomUniform(shape, lo, hi, 'float32', seed);
const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const along = (x: tf.Tensor, start: number, size: number) => tf.slice(x, [0, start], [-1, size]);

/** Output, state and the gradients of a loss on both for every input, as plain arrays. */
function outputsAndGrads(
  f: (...xs: tf.Tensor[]) => { output: tf.Tensor; state: tf.Tensor[] },
  xs: tf.Tensor[],
) {
  return tf.tidy(() => {
    const { output, state } = f(...xs);
    const loss = (...ys: tf.Tensor[]) => {
      const r = f(...ys);
      const probe = tf.sin(tf.reshape(tf.range(0, r.output.size), r.output.shape));
      const stateTerms = r.state.map((s, i) => tf.sum(tf.mul(s, i + 0.5)));
      return tf.addN([tf.sum(tf.mul(r.output, probe)), ...stateTerms]) as tf.Scalar;
    };
    return [output, ...state, ...tf.grads(loss)(xs)].map((t) => t.arraySync());
  });
}

/** Every output, state and gradient of two forms within 1e-4 (max abs error). */
function expectAgree(x: unknown[], y: unknown[]) {
  expect(x.length).toBe(y.length);
  const diffs = x.map((v, i) => maxAbsDiff(v as number[], y[i] as number[]));
  expect(Math.max(...diffs)).toBeLessThanOrEqual(1e-4);
}

describe('linearRecurrence', () => {
  const cases: [string, number[], number[]][] = [
    ['a per feature', [2, 7, 3], [2, 7, 3]],
    ['a scalar per step', [2, 7, 1], [2, 7, 3]],
    ['a per head, broadcast over batch', [1, 7, 2, 1], [2, 7, 2, 3]],
    ['a scalar per step, shared by the batch', [1, 7, 1, 1], [2, 7, 2, 3]],
    ['a fixed over time and batch', [1, 1, 3], [2, 7, 3]],
  ];
  for (const [name, aShape, bShape] of cases) {
    it(`${name}: the chunk form (chunks 1, 3, 4, 16 for T = 7) equals the sequential one, outputs and gradients`, () => {
      const a = uniform(aShape, 0.2, 1, 1);
      const b = normal(bShape, 2);
      const h0 = normal([bShape[0]!, ...bShape.slice(2)], 3);
      const run = (form: 'sequential' | 'chunk', chunkSize?: number) =>
        outputsAndGrads(
          (x, y, z) => {
            const r = linearRecurrence(x!, y!, { form, chunkSize, initialState: z });
            return { output: r.output, state: [r.state] };
          },
          [a, b, h0],
        );
      const reference = run('sequential');
      for (const chunkSize of [1, 3, 4, 16]) expectAgree(run('chunk', chunkSize), reference);
      tf.dispose([a, b, h0]);
    });
  }

  it('matches the recurrence written out step by step (a scalar per step)', () => {
    const a = tf.tensor3d([[[0.5], [0.25], [2]]]);
    const b = tf.tensor3d([
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    ]);
    const h0 = tf.tensor2d([[8, -4]]);
    // h1 = 0.5·[8,-4] + [1,2] = [5,0]; h2 = 0.25·[5,0] + [3,4] = [4.25,4]; h3 = 2·h2 + [5,6].
    const expected = [
      [
        [5, 0],
        [4.25, 4],
        [13.5, 14],
      ],
    ];
    for (const form of ['sequential', 'chunk'] as const) {
      const { output, state } = linearRecurrence(a, b, { form, chunkSize: 2, initialState: h0 });
      expectClose(output, expected);
      expectClose(state, [[13.5, 14]]);
    }
  });

  for (const form of ['sequential', 'chunk'] as const) {
    it(`${form}: two calls threading the state, and one token at a time, equal one call`, () => {
      tf.tidy(() => {
        const a = uniform([2, 7, 3], 0.2, 1, 4);
        const b = normal([2, 7, 3], 5);
        const whole = linearRecurrence(a, b, { form, chunkSize: 3 });
        const first = linearRecurrence(along(a, 0, 4), along(b, 0, 4), { form, chunkSize: 3 });
        const second = linearRecurrence(along(a, 4, 3), along(b, 4, 3), {
          form,
          chunkSize: 3,
          initialState: first.state,
        });
        expectClose(tf.concat([first.output, second.output], 1), whole.output);
        expectClose(second.state, whole.state);
        let state: tf.Tensor | undefined;
        const steps: tf.Tensor[] = [];
        for (let t = 0; t < 7; t++) {
          const r = linearRecurrence(along(a, t, 1), along(b, t, 1), { form, initialState: state });
          steps.push(r.output);
          state = r.state;
        }
        expectClose(tf.concat(steps, 1), whole.output);
        expectClose(state!, whole.state);
      });
    });

    it(`${form}: its gradient passes a finite-difference check for a, b and h0`, () => {
      const a = uniform([1, 5, 2], 0.3, 0.9, 6);
      const b = normal([1, 5, 2], 7);
      const h0 = normal([1, 2], 8);
      const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        linearRecurrence(x, y, { form, chunkSize: 2, initialState: z }).output;
      expect(finiteDifferenceCheck(f as never, [a, b, h0])).toBeLessThan(2e-3);
      tf.dispose([a, b, h0]);
    });

    it(`${form}: leaks nothing forward and backward (a scalar per step, a fixed decay)`, async () => {
      const b = normal([2, 5, 3], 10);
      const h0 = normal([2, 3], 11);
      for (const a of [uniform([2, 5, 1], 0.3, 0.9, 9), uniform([1, 1, 3], 0.3, 0.9, 9)]) {
        await expectNoLeaks(() => {
          const r = linearRecurrence(a, b, { form, chunkSize: 2, initialState: h0 });
          const r0 = linearRecurrence(a, b, { form, chunkSize: 2 });
          tf.dispose([r.output, r.state, r0.output, r0.state]);
          const grads = tf.grads((x, y, z) => {
            const s = linearRecurrence(x!, y!, { form, chunkSize: 2, initialState: z });
            return tf.add(tf.sum(s.output), tf.sum(s.state));
          })([a, b, h0]);
          tf.dispose(grads);
        });
        a.dispose();
      }
      tf.dispose([b, h0]);
    });
  }

  it('chunk form with a = 1e-30 and a = 0 stays finite and equals the sequential form', () => {
    tf.tidy(() => {
      const b = normal([2, 9, 3], 12);
      const h0 = normal([2, 3], 13);
      for (const value of [1e-30, 0]) {
        const a = tf.fill([2, 9, 3], value);
        const run = (form: 'sequential' | 'chunk') => {
          const g = tf.grads((x, y, z) =>
            tf.sum(linearRecurrence(x!, y!, { form, chunkSize: 4, initialState: z }).output),
          )([a, b, h0]);
          return [linearRecurrence(a, b, { form, chunkSize: 4, initialState: h0 }).output, ...g];
        };
        const chunk = run('chunk');
        chunk.forEach((t) => expect(tf.all(tf.isFinite(t)).dataSync()[0]).toBe(1));
        run('sequential').forEach((t, i) => expect(maxAbsDiff(chunk[i]!, t)).toBeLessThan(1e-5));
        expectClose(chunk[0]!, b); // h_t = b_t once a vanishes
      }
    });
  });

  it('rejects each bad argument with a typed one-line error', () => {
    const a = tf.ones([2, 4, 3]);
    const b = tf.ones([2, 4, 3]);
    expect(() => linearRecurrence(a, b, { form: 'scan' as never })).toThrow(
      "linearRecurrence: form expected one of 'sequential', 'chunk', got 'scan'",
    );
    expect(() => linearRecurrence(a, b, { chunkSize: 0 })).toThrow(
      'linearRecurrence: chunkSize expected an integer >= 1, got 0',
    );
    expect(() => linearRecurrence(a, tf.ones([4]))).toThrow(
      'linearRecurrence: b expected shape [batch, time >= 1, ...features], got shape [4]',
    );
    expect(() => linearRecurrence(tf.ones([2, 4]), b)).toThrow(
      "linearRecurrence: a expected b's rank and a shape that broadcasts to [2,4,3], got shape [2,4]",
    );
    expect(() => linearRecurrence(tf.ones([2, 4, 2]), b)).toThrow(
      "linearRecurrence: a expected b's rank and a shape that broadcasts to [2,4,3], got shape [2,4,2]",
    );
    expect(() => linearRecurrence(a, b, { initialState: tf.ones([2, 4, 3]) })).toThrow(
      'linearRecurrence: initialState expected shape [2,3], got shape [2,4,3]',
    );
    expect(() => linearRecurrence(tf.ones([2, 4, 3], 'int32'), b)).toThrow(
      'linearRecurrence: a expected dtype float32, got dtype int32',
    );
    expect(() => linearRecurrence(a, tf.ones([2, 4, 3], 'int32'))).toThrow(
      'linearRecurrence: b expected dtype float32, got dtype int32',
    );
    expect(() => linearRecurrence(a, b, { initialState: tf.ones([2, 3], 'int32') })).toThrow(
      'linearRecurrence: initialState expected dtype float32, got dtype int32',
    );
    tf.dispose([a, b]);
  });
});

describe('logSumExpScan', () => {
  const stateOf = (xs: tf.Tensor[]): LogSumExpState | undefined =>
    xs.length ? { max: xs[0]!, numerator: xs[1]!, denominator: xs[2]! } : undefined;
  const triple = (s: LogSumExpState) => [s.max, s.numerator, s.denominator];

  for (const [name, sShape, withState] of [
    ['T = 7, one head axis', [2, 7, 2], false],
    ['T = 5, two head axes, continued from a state', [2, 5, 2, 2], true],
    ['T = 1, no head axis', [2, 1], true],
  ] as [string, number[], boolean][]) {
    it(`${name}: parallel equals recurrent, outputs, state and gradients`, () => {
      const stats = [sShape[0]!, ...sShape.slice(2)];
      const inputs = [normal(sShape, 1), normal([...sShape, 3], 2)];
      if (withState)
        inputs.push(normal(stats, 3), normal([...stats, 3], 4), uniform(stats, 0.5, 2, 5));
      const run = (form: 'parallel' | 'recurrent') =>
        outputsAndGrads((s, v, ...init) => {
          const r = logSumExpScan(s!, v!, { form, initialState: stateOf(init) });
          return { output: r.output, state: triple(r.state) };
        }, inputs);
      expectAgree(run('parallel'), run('recurrent'));
      tf.dispose(inputs);
    });
  }

  it('a state with zero numerator and denominator and a very low max stands for no tokens', () => {
    tf.tidy(() => {
      const s = normal([2, 4, 2], 12);
      const v = normal([2, 4, 2, 3], 13);
      const empty = {
        max: tf.fill([2, 2], -1e30),
        numerator: tf.zeros([2, 2, 3]),
        denominator: tf.zeros([2, 2]),
      };
      for (const form of ['parallel', 'recurrent'] as const) {
        const from = logSumExpScan(s, v, { form, initialState: empty }).output;
        expectClose(from, logSumExpScan(s, v, { form }).output);
      }
    });
  });

  it('is the softmax-weighted average of each prefix (computed here in float64)', () => {
    const s = [0.3, -1.2, 2.5, 0.1, -0.4];
    const v = [1, -2, 0.5, 3, -1];
    const expected = s.map((_, t) => {
      const w = s.slice(0, t + 1).map(Math.exp);
      return w.reduce((acc, wi, i) => acc + wi * v[i]!, 0) / w.reduce((x, y) => x + y, 0);
    });
    for (const form of ['parallel', 'recurrent'] as const) {
      const { output } = logSumExpScan(tf.tensor2d([s]), tf.tensor3d([v.map((x) => [x])]), {
        form,
      });
      expectClose(tf.reshape(output, [-1]), expected);
    }
  });

  for (const form of ['parallel', 'recurrent'] as const) {
    it(`${form}: two calls threading the state, and one token at a time, equal one call`, () => {
      tf.tidy(() => {
        const s = normal([2, 6, 2], 6);
        const v = normal([2, 6, 2, 3], 7);
        const whole = logSumExpScan(s, v, { form });
        const first = logSumExpScan(along(s, 0, 4), along(v, 0, 4), { form });
        const second = logSumExpScan(along(s, 4, 2), along(v, 4, 2), {
          form,
          initialState: first.state,
        });
        expectClose(tf.concat([first.output, second.output], 1), whole.output);
        let state: LogSumExpState | undefined;
        const steps: tf.Tensor[] = [];
        for (let t = 0; t < 6; t++) {
          const r = logSumExpScan(along(s, t, 1), along(v, t, 1), { form, initialState: state });
          steps.push(r.output);
          state = r.state;
        }
        expectClose(tf.concat(steps, 1), whole.output);
        expectClose(state!.max, whole.state.max);
        expectClose(state!.numerator, whole.state.numerator);
        expectClose(state!.denominator, whole.state.denominator);
      });
    });

    it(`${form}: scores around ±80 and ±100 give finite, correct averages`, () => {
      const s = [80, -80, 100, -100, 95, 79.5, -99];
      const v = [1, 2, -3, 4, 0.5, -1, 7];
      const expected = s.map((_, t) => {
        const top = Math.max(...s.slice(0, t + 1));
        const w = s.slice(0, t + 1).map((x) => Math.exp(x - top));
        return w.reduce((acc, wi, i) => acc + wi * v[i]!, 0) / w.reduce((x, y) => x + y, 0);
      });
      const low = s.map((x) => -Math.abs(x) - 20); // all below exp's float32 range
      const lowExpected = low.map((_, t) => {
        const top = Math.max(...low.slice(0, t + 1));
        const w = low.slice(0, t + 1).map((x) => Math.exp(x - top));
        return w.reduce((acc, wi, i) => acc + wi * v[i]!, 0) / w.reduce((x, y) => x + y, 0);
      });
      tf.tidy(() => {
        const values = tf.tensor3d([v.map((x) => [x])]);
        const out = logSumExpScan(tf.tensor2d([s]), values, { form }).output;
        expectClose(tf.reshape(out, [-1]), expected);
        const outLow = logSumExpScan(tf.tensor2d([low]), values, { form }).output;
        expectClose(tf.reshape(outLow, [-1]), lowExpected);
        const g = tf.grad((x) => tf.sum(logSumExpScan(x, values, { form }).output))(
          tf.tensor2d([s]),
        );
        expect(tf.all(tf.isFinite(g)).dataSync()[0]).toBe(1);
      });
    });

    it(`${form}: leaks nothing forward and backward`, async () => {
      const s = normal([2, 5, 2], 8);
      const v = normal([2, 5, 2, 3], 9);
      await expectNoLeaks(() => {
        const r = logSumExpScan(s, v, { form });
        const r2 = logSumExpScan(s, v, { form, initialState: r.state });
        tf.dispose([r.output, ...triple(r.state), r2.output, ...triple(r2.state)]);
        tf.dispose(tf.grads((x, y) => tf.sum(logSumExpScan(x!, y!, { form }).output))([s, v]));
      });
      tf.dispose([s, v]);
    });
  }

  it('rejects each bad argument with a typed one-line error', () => {
    const s = tf.zeros([2, 4, 3]);
    const v = tf.zeros([2, 4, 3, 5]);
    const state = {
      max: tf.zeros([2, 3]),
      numerator: tf.zeros([2, 3, 5]),
      denominator: tf.ones([2, 3]),
    };
    expect(() => logSumExpScan(s, v, { form: 'chunk' as never })).toThrow(
      "logSumExpScan: form expected one of 'parallel', 'recurrent', got 'chunk'",
    );
    expect(() => logSumExpScan(tf.zeros([4]), v)).toThrow(
      'logSumExpScan: scores expected shape [batch, time >= 1, ...heads], got shape [4]',
    );
    expect(() => logSumExpScan(s, tf.zeros([2, 4, 5]))).toThrow(
      'logSumExpScan: values expected shape [2,4,3] + [dv], got shape [2,4,5]',
    );
    expect(() => logSumExpScan(s, v, { initialState: { ...state, max: tf.zeros([2]) } })).toThrow(
      'logSumExpScan: initialState.max expected shape [2,3], got shape [2]',
    );
    expect(() =>
      logSumExpScan(s, v, { initialState: { ...state, numerator: tf.zeros([2, 3, 4]) } }),
    ).toThrow('logSumExpScan: initialState.numerator expected shape [2,3,5], got shape [2,3,4]');
    expect(() =>
      logSumExpScan(s, v, { initialState: { ...state, denominator: undefined as never } }),
    ).toThrow('logSumExpScan: initialState.denominator expected shape [2,3], got no tensor');
    expect(() => logSumExpScan(tf.zeros([2, 4, 3], 'int32'), v)).toThrow(
      'logSumExpScan: scores expected dtype float32, got dtype int32',
    );
    expect(() => logSumExpScan(s, tf.zeros([2, 4, 3, 5], 'int32'))).toThrow(
      'logSumExpScan: values expected dtype float32, got dtype int32',
    );
    expect(() =>
      logSumExpScan(s, v, { initialState: { ...state, max: tf.zeros([2, 3], 'int32') } }),
    ).toThrow('logSumExpScan: initialState.max expected dtype float32, got dtype int32');
  });
});
