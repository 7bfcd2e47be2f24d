import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, registryInfo } from '@attnkit/core';
import { EfficientAttention, type EfficientAttentionConfig } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';
import { casesOf, checkGolden, outputAndGrads } from './batch-a-fixture';

const make = (extra: Partial<EfficientAttentionConfig> = {}, seed = 3) =>
  new EfficientAttention(
    { type: 'efficient-attention', dModel: 8, numHeads: 2, ...extra },
    { rng: new Rng(seed) },
  );
const input = (t = 7) => tf.randomNormal([2, t, 8], 0, 1, 'float32', 2) as tf.Tensor3D;

describe('efficient-attention (Shen et al. 2021)', () => {
  it.each(casesOf('efficient-attention'))(
    '%s: output and input gradient match PyTorch',
    (_name, c) => checkGolden(c),
  );

  it('the factorised Q (KᵀV) and the quadratic (Q Kᵀ) V forms agree, outputs and gradients', () => {
    const chunk = make();
    const parallel = make({ form: 'parallel' }, 9);
    parallel.loadStateDict(chunk.stateDict());
    const x = input();
    const a = outputAndGrads(chunk, x);
    const b = outputAndGrads(parallel, x);
    expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
    a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!)).toBeLessThanOrEqual(1e-4));
    [chunk, parallel].forEach((m) => m.dispose());
  });

  it("'scaling' normalisation is (1/T) Q Kᵀ V, and every token sees every other", () => {
    const m = make({ normalization: 'scaling' });
    const x = input(5);
    const split = (y: tf.Tensor) =>
      tf.transpose(tf.reshape(y, [2, 5, 2, 4]), [0, 2, 1, 3]) as tf.Tensor4D;
    const [q, k, v] = [m.q, m.k, m.v].map((l) => split(l.forward(x)));
    const heads = tf.div(tf.matMul(tf.matMul(q!, k!, false, true), v!), 5);
    const expected = m.o.forward(tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [2, 5, 8]));
    expectClose(m.forward(x), expected, { atol: 1e-5 });
    const y = make().forward(x);
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [-1, 4, -1]), tf.ones([2, 1, 8])], 1);
    const first = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [-1, 1, -1]);
    expect(maxAbsDiff(first(make().forward(changed as tf.Tensor3D)), first(y))).toBeGreaterThan(
      1e-4,
    );
    m.dispose();
  });

  it('is encoder only: refuses causal use and decoding with typed errors', () => {
    const m = make();
    const x = input(3);
    expect(m.capabilities.causal).toBe('never');
    expect(m.capabilities.decoding).toBe(false);
    expect(() => m.forward(x, { causal: true })).toThrow(/causal/);
    expect(() => m.initState(2)).toThrow(ConfigError);
    expect(() => make({ causal: true } as never)).toThrow(ConfigError);
    expect(() => make({ chunkSize: 4 } as never)).toThrow(ConfigError);
    expect(() => make({ normalization: 'l2' } as never)).toThrow(/normalization/);
    expect(() => make({ numHeads: 3 })).toThrow(ConfigError);
    expect(registryInfo('efficient-attention')?.info?.paper).toMatch(/Shen/);
    m.dispose();
  });
});
