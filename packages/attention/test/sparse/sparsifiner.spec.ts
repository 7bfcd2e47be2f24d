import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  build,
  estimateConfig,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { Sparsifiner, sparsifinerLoss } from '@attnkit/attention';

type Mixer = Module & TokenMixer;
interface Case {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, { shape: number[]; values: number[] }>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
  loss: number;
  lossSparsity: number;
  gradTokenUp: number[];
  shape: [number, number, number];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/sparsifiner.json'), 'utf8'),
) as { cases: Case[] };

const make = (config: Record<string, unknown>) =>
  build<Sparsifiner>({
    type: 'sparsifiner',
    dModel: 8,
    numHeads: 2,
    numTokens: 12,
    topK: 4,
    reducedTokens: 3,
    ...config,
  });

/** Output and the gradients of sum(y · probe) for x and every trainable parameter. */
function outputAndGradients(m: Mixer, x: tf.Tensor3D, probe: tf.Tensor) {
  const params = [...m.namedParameters()].filter(([, v]) => v.trainable);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), probe)) as tf.Scalar);
  const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)))(
    x,
  );
  return { y: m.forward(x), dx, grads: params.map(([name, v]) => [name, grads[v.name]!] as const) };
}

describe('sparsifiner (Wei et al. 2023, learned instance-dependent connectivity)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output, input gradient, predictor loss and its W_up gradient match the PyTorch reference',
    (_name, c) => {
      const m = build<Sparsifiner>(c.config);
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
      const loss = () => sparsifinerLoss(m, x, { sparsity: c.lossSparsity });
      expect(loss().dataSync()[0]).toBeCloseTo(c.loss, 5);
      const [gUp] = tf.grads(() => loss())([m.tokenUp]);
      expectClose(gUp!, tf.tensor(c.gradTokenUp, m.tokenUp.shape), { atol: 1e-6, rtol: 1e-4 });
      m.dispose();
    },
  );

  it.each([
    ['top-4 of 12, n_down 3', { topK: 4 }],
    ['top-1 of 12, c 1, chunk 5', { topK: 1, reducedDim: 1, chunkSize: 5 }],
    ['top-7 of 12, bias, headDim 3', { topK: 7, bias: true, headDim: 3 }],
  ])(
    '%s: the gathered path equals the mask on full attention (outputs, all gradients)',
    (_n, extra) => {
      const sparse = make({ ...extra, form: 'gather' });
      const dense = make({ ...extra, form: 'dense' });
      dense.loadStateDict(sparse.stateDict());
      const x = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
      const probe = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 2);
      const a = outputAndGradients(sparse, x, probe);
      const b = outputAndGradients(dense, x, probe);
      expect(maxAbsDiff(a.y, b.y)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(a.dx, b.dx)).toBeLessThanOrEqual(1e-4);
      // Only q, k, v, o are trained by the output: the predictor learns from its own loss.
      expect(a.grads.map(([name]) => name.split('.')[0]).sort()).toEqual(
        'bias' in extra ? ['k', 'k', 'o', 'o', 'q', 'q', 'v', 'v'] : ['k', 'o', 'q', 'v'],
      );
      a.grads.forEach(([name, g], i) => {
        expect([name, maxAbsDiff(g, b.grads[i]![1]) <= 1e-4]).toEqual([name, true]);
      });
      sparse.dispose();
      dense.dispose();
    },
  );

  it('keeping every key is full bidirectional attention; keeping fewer differs', () => {
    const all = make({ topK: 12 });
    const some = make({ topK: 3 });
    some.loadStateDict(all.stateDict());
    const mha = build<Mixer>({ type: 'mha', dModel: 8, numHeads: 2, causal: false });
    mha.loadStateDict(
      Object.fromEntries(Object.entries(all.stateDict()).filter(([n]) => /^[qkvo]\./.test(n))),
    );
    const x = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    expectClose(all.forward(x), mha.forward(x), { atol: 1e-5 });
    expect(maxAbsDiff(some.forward(x), mha.forward(x))).toBeGreaterThan(1e-3);
    [all, some, mha].forEach((m) => m.dispose());
  });

  it('a few gradient steps on the predictor reduce its distillation loss', () => {
    const m = make({ topK: 4, reducedTokens: 4 });
    const x = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
    const params = m.predictorParameters();
    const loss = () => sparsifinerLoss(m, x, { sparsity: 1e-3 });
    const first = loss().dataSync()[0]!;
    for (let step = 0; step < 20; step++) {
      tf.tidy(() => {
        const grads = tf.grads(() => loss())(params);
        params.forEach((p, i) => p.assign(tf.sub(p, tf.mul(grads[i]!, 2))));
      });
    }
    const last = loss().dataSync()[0]!;
    expect(last).toBeLessThan(0.8 * first);
    m.dispose();
  });

  it('the selection follows the predictor: top-k of Â = C W_upᵀ, reported to the probe', () => {
    const m = make({ topK: 2 });
    const x = tf.randomNormal([1, 12, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const events: { name: string; value: unknown }[] = [];
    m.forward(x, { probe: (e) => events.push(e) }).dispose();
    expect(events.map((e) => e.name)).toEqual(['connectivity[1,2,12,2]']);
    const { q, k } = m.heads(x);
    const approx = tf.matMul(
      m.basisCoefficients(q, k),
      tf.broadcastTo(m.tokenUp, [1, 2, 12, 3]),
      false,
      true,
    );
    const expected = tf.topk(approx, 2).indices.dataSync();
    const got = events[0]!.value as number[];
    // Both best first; compare as sets per query.
    for (let r = 0; r < 24; r++) {
      expect(got.slice(2 * r, 2 * r + 2).sort()).toEqual(
        Array.from(expected.slice(2 * r, 2 * r + 2)).sort(),
      );
    }
    m.dispose();
  });

  it('the gathered path builds no [N, N] map', async () => {
    const largest = async (form: string) => {
      const m = make({ numTokens: 64, topK: 4, reducedTokens: 8, chunkSize: 8, form });
      const x = tf.randomNormal([1, 64, 8], 0, 1, 'float32', 5) as tf.Tensor3D;
      const info = await tf.profile(() => m.forward(x));
      const sizes = info.kernels.flatMap((kernel) =>
        (kernel.outputShapes as number[][]).map((shape) => shape.reduce((p, d) => p * d, 1)),
      );
      x.dispose();
      m.dispose();
      return Math.max(...sizes);
    };
    expect(await largest('dense')).toBeGreaterThanOrEqual(2 * 64 * 64);
    expect(await largest('gather')).toBeLessThanOrEqual(2 * 64 * (4 + 8) * 2);
  });

  it('estimates exactly the parameters it builds', () => {
    for (const extra of [{}, { bias: true, reducedDim: 3 }, { headDim: 3, reducedTokens: 12 }]) {
      const m = make(extra);
      const built = m.parameters().reduce((n, v) => n + v.size, 0);
      expect(estimateConfig({ ...m.config })!.parameters).toBe(built);
      m.dispose();
    }
  });

  it('rejects bad configs and inputs with typed errors', () => {
    expect(() => make({ topK: 13 })).toThrow(ConfigError);
    expect(() => make({ reducedTokens: 13 })).toThrow(ConfigError);
    expect(() => make({ reducedDim: 5 })).toThrow(ConfigError);
    const m = make({});
    expect(() => m.forward(tf.zeros([1, 11, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([1, 12, 7]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([1, 12, 8]) as tf.Tensor3D, { causal: true })).toThrow();
    const x = tf.zeros([1, 12, 8]) as tf.Tensor3D;
    expect(() => sparsifinerLoss(m, x, { sparsity: -1 })).toThrow(ConfigError);
    m.dispose();
  });

  it('leaks nothing over forward, backward, the predictor loss and a refused input', async () => {
    const m = make({});
    const x = tf.randomNormal([2, 12, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const short = tf.zeros([1, 5, 8]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      m.forward(x).dispose();
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      tf.dispose(tf.grads(() => sparsifinerLoss(m, x))(m.predictorParameters()));
      expect(() => sparsifinerLoss(m, short)).toThrow(ShapeError);
    });
    tf.dispose([x, short]);
    m.dispose();
  });
});
