import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build, type Module, type TokenMixer } from '@attnkit/core';
import { featureMaps, taylorFeatures } from '@attnkit/attention';
import { maxAbsDiff } from '@attnkit/core/testing';

type Mixer = Module & TokenMixer;
const D = 8;
const HEADS = 2;
const HEAD = D / HEADS;

// Linear attention with φ(x) = [1, x/d^¼]: the score 1 + q·k/√d.
featureMaps.register(
  'test-one-plus-x',
  (o) => ({
    outDim: 1 + o.headDim,
    apply: (x) =>
      tf.tidy(() =>
        tf.concat(
          [
            tf.onesLike(tf.slice(x, 0, [...x.shape.slice(0, -1), 1])),
            tf.div(x, Math.pow(o.headDim, 0.25)),
          ],
          -1,
        ),
      ),
    buffers: () => ({}),
    dispose: () => {},
  }),
  { summary: 'test map [1, x/d^¼]' },
);

/** `config` built with `source`'s weights (the same q/k/v/o projections). */
function twin(source: Mixer, config: object): Mixer {
  const m = build<Mixer>(config);
  m.loadStateDict(source.stateDict());
  return m;
}

function rnn(order: number, extra: object = {}): Mixer {
  return build<Mixer>({ type: 'softmax-rnn', dModel: D, numHeads: HEADS, order, ...extra });
}

const input = (scale: number, t = 9, seed = 1) =>
  tf.mul(tf.randomNormal([2, t, D], 0, 1, 'float32', seed), scale) as tf.Tensor3D;

describe('softmax-rnn', () => {
  it('order 1 is linear attention with φ(x) = [1, x] (score 1 + qᵀk) to 1e-5', () => {
    tf.tidy(() => {
      const m = rnn(1);
      const linear = twin(m, {
        type: 'linear-attention',
        dModel: D,
        numHeads: HEADS,
        featureMap: 'test-one-plus-x',
      });
      const x = input(0.3);
      expect(maxAbsDiff(m.forward(x), linear.forward(x))).toBeLessThan(1e-5);
      m.dispose();
      linear.dispose();
    });
  });

  it("order 2 is Based's Taylor map 1 + s + s²/2 to 1e-5", () => {
    tf.tidy(() => {
      const m = rnn(2);
      const based = twin(m, {
        type: 'linear-attention',
        dModel: D,
        numHeads: HEADS,
        featureMap: 'taylor',
      });
      const x = input(0.5);
      expect(maxAbsDiff(m.forward(x), based.forward(x))).toBeLessThan(1e-5);
      m.dispose();
      based.dispose();
    });
  });

  it('its error against exact causal softmax attention falls as the order rises (small-norm inputs)', () => {
    tf.tidy(() => {
      const first = rnn(1);
      const exact = twin(first, { type: 'mha', dModel: D, numHeads: HEADS });
      const x = input(0.4);
      const reference = exact.forward(x, { causal: true });
      const errors = [1, 2, 3].map((order) => {
        const m =
          order === 1
            ? first
            : twin(first, { type: 'softmax-rnn', dModel: D, numHeads: HEADS, order });
        const e = maxAbsDiff(m.forward(x), reference);
        if (m !== first) m.dispose();
        return e;
      });
      expect(errors[1]!).toBeLessThan(errors[0]! / 3);
      expect(errors[2]!).toBeLessThan(errors[1]! / 3);
      expect(errors[2]!).toBeLessThan(1e-3); // 0.026, 0.0039, 0.0003 here
      first.dispose();
      exact.dispose();
    });
  });

  it('⟨φ(q), φ(k)⟩ is Σ_{n≤N} s^n/n! and its remainder obeys |s|^{N+1}/(N+1)! · e^{|s|} elementwise', () => {
    tf.tidy(() => {
      const q = tf.randomNormal([3, 5, HEAD], 0, 0.8, 'float32', 11);
      const k = tf.randomNormal([3, 5, HEAD], 0, 0.8, 'float32', 12);
      const root = Math.pow(HEAD, 0.25);
      const s = tf.div(tf.matMul(q, k, false, true), Math.sqrt(HEAD)); // softmax's logits
      let factorial = 1;
      let polynomial = tf.onesLike(s);
      for (const order of [1, 2, 3]) {
        factorial *= order;
        polynomial = tf.add(polynomial, tf.div(tf.pow(s, order), factorial));
        const [fq, fk] = [
          taylorFeatures(tf.div(q, root), order),
          taylorFeatures(tf.div(k, root), order),
        ];
        const truncated = tf.matMul(fq, fk, false, true);
        expect(maxAbsDiff(truncated, polynomial)).toBeLessThan(1e-5);
        const remainder = tf.abs(tf.sub(tf.exp(s), truncated)).arraySync() as number[][][];
        const abs = tf.abs(s);
        const next = factorial * (order + 1);
        const bound = tf.mul(tf.div(tf.pow(abs, order + 1), next), tf.exp(abs));
        const limit = bound.arraySync() as number[][][];
        remainder
          .flat(2)
          .forEach((r, i) => expect(r).toBeLessThanOrEqual(limit.flat(2)[i]! + 1e-6));
      }
    });
  });

  it('chunk, parallel and token-by-token forms agree: outputs and every gradient ≤ 1e-4', () => {
    tf.tidy(() => {
      const chunk = rnn(3, { chunkSize: 4 });
      const parallel = twin(chunk, {
        type: 'softmax-rnn',
        dModel: D,
        numHeads: HEADS,
        order: 3,
        form: 'parallel',
      });
      const x = input(0.6, 11, 3);
      const probe = tf.randomNormal([2, 11, D], 0, 1, 'float32', 4);
      const y = chunk.forward(x);
      expect(maxAbsDiff(y, parallel.forward(x))).toBeLessThan(1e-4);
      const state = chunk.initState!(2);
      const steps = tf.split(x, 11, 1).map((t) => chunk.forward(t as tf.Tensor3D, { state }));
      expect(maxAbsDiff(tf.concat(steps, 1), y)).toBeLessThan(1e-4);
      state.dispose();
      const loss = (m: Mixer) => () => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar;
      const a = tf.variableGrads(loss(chunk));
      const b = tf.variableGrads(loss(parallel));
      const other = parallel.namedParameters();
      for (const [name, v] of chunk.namedParameters()) {
        const diff = maxAbsDiff(a.grads[v.name]!, b.grads[other.get(name)!.name]!);
        if (!(diff <= 1e-4)) throw new Error(`${name}: gradients differ by ${diff}`);
      }
      chunk.dispose();
      parallel.dispose();
    });
  });

  it('its decoding state holds Σ_{n≤N} d^n × (dv + 1) floats per head, the same after 16 and 1,024 tokens', () => {
    const m = rnn(2);
    const bytesAfter = (t: number) => {
      const state = m.initState!(1);
      tf.tidy(() => {
        m.forward(tf.slice(input(0.3, t, 5), [0, 0, 0], [1, t, D]), { state });
      });
      const bytes = state.bytes;
      state.dispose();
      return bytes;
    };
    const width = 1 + HEAD + HEAD * HEAD;
    expect(bytesAfter(16)).toBe(4 * HEADS * width * (HEAD + 1));
    expect(bytesAfter(1024)).toBe(bytesAfter(16));
    m.dispose();
  });

  it.each([[{ order: 0 }], [{ order: 5 }], [{ order: 1.5 }]])(
    'refuses %j naming order',
    (extra) => {
      const config = { type: 'softmax-rnn', dModel: D, numHeads: HEADS, ...extra };
      expect(() => build(config)).toThrow(ConfigError);
      expect(() => build(config)).toThrow(/order/);
    },
  );
});
