import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build, type Module, type TokenMixer } from '@attnkit/core';
import {
  clusterAttention,
  kmeansStep,
  routeBalanced,
  scaledDotProductAttention,
  unitNormalize,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/routing_reference.py (PyTorch, fixed centroids, masks).
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
  fs.readFileSync(path.join(__dirname, '../fixtures/routing.json'), 'utf8'),
) as { cases: Case[] };

const rand = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;
type Mixer = Module & TokenMixer & { centroids: tf.Variable };
const mixer = (extra: object = {}) =>
  build<Mixer>({ type: 'routing-transformer', dModel: 8, numHeads: 2, numClusters: 2, ...extra });

describe('routing-transformer (Roy et al. 2021)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match PyTorch with fixed centroids',
    (_name, c) => {
      const m = build<Mixer>(c.config);
      m.train(false);
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
      m.dispose();
    },
  );

  it.each([true, false])(
    'causal=%s: the sparse form equals the cluster masks on full attention (outputs, gradients)',
    (causal) => {
      const [q, k, v] = [rand([2, 2, 12, 4], 1), rand([2, 2, 12, 4], 2), rand([2, 2, 12, 4], 3)];
      const centroids = unitNormalize(tf.reshape(rand([1, 2, 3, 4], 4), [2, 3, 4]) as tf.Tensor3D);
      const members = routeBalanced(unitNormalize(q), centroids, 4);
      const probe = rand([2, 2, 12, 4], 5);
      const loss = (form: 'gather' | 'dense') => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            clusterAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, members, {
              causal,
              form,
            }),
            probe,
          ),
        );
      const sparse = tf.grads(loss('gather'))([q, k, v]);
      const dense = tf.grads(loss('dense'))([q, k, v]);
      sparse.forEach((g, i) => expect(maxAbsDiff(g, dense[i]!)).toBeLessThanOrEqual(1e-4));
      const out = (form: 'gather' | 'dense') =>
        clusterAttention(q, k, v, members, { causal, form });
      expect(maxAbsDiff(out('gather'), out('dense'))).toBeLessThanOrEqual(1e-4);
    },
  );

  it('routes balanced: every cluster holds t / c tokens, ascending, the nearest to its centroid', () => {
    const routes = unitNormalize(rand([1, 2, 12, 4], 6));
    const centroids = unitNormalize(tf.reshape(rand([1, 2, 3, 4], 7), [2, 3, 4]) as tf.Tensor3D);
    const members = routeBalanced(routes, centroids, 4).arraySync();
    const r = routes.arraySync()[0]!;
    const mu = centroids.arraySync();
    for (let h = 0; h < 2; h++) {
      for (let c = 0; c < 3; c++) {
        const row = members[0]![h]![c]!;
        expect(row).toHaveLength(4);
        expect([...row].sort((a, b) => a - b)).toEqual(row);
        const score = (t: number) => r[h]![t]!.reduce((s, x, i) => s + x * mu[h]![c]![i]!, 0);
        const worstIn = Math.min(...row.map(score));
        const others = [...Array(12).keys()].filter((t) => !row.includes(t));
        for (const t of others) expect(score(t)).toBeLessThanOrEqual(worstIn);
      }
    }
  });

  it('k-means moves centroids toward their routes in training only, staying unit vectors', () => {
    const routes = unitNormalize(rand([1, 1, 6, 2], 8));
    const centroids = unitNormalize(tf.tensor3d([1, 0, 0, 1, -1, 0], [1, 3, 2]));
    const next = kmeansStep(routes, centroids, 0.5).arraySync()[0]!;
    const r = routes.arraySync()[0]![0]!;
    const mu = centroids.arraySync()[0]!;
    const near = r.map((x) =>
      [0, 1, 2].reduce((a, c) => (dot(x, mu[c]!) > dot(x, mu[a]!) ? c : a)),
    );
    for (let c = 0; c < 3; c++) {
      const mine = r.filter((_, t) => near[t] === c);
      let want = mu[c]!;
      if (mine.length) {
        const mean = [0, 1].map((i) => mine.reduce((s, x) => s + x[i]!, 0) / mine.length);
        const moved = [0, 1].map((i) => 0.5 * mu[c]![i]! + 0.5 * mean[i]!);
        want = moved.map((x) => x / Math.hypot(...moved));
      }
      next[c]!.forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 5));
    }
    const m = mixer();
    const x = tf.randomNormal([1, 6, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const before = tf.clone(m.centroids);
    m.forward(x, { training: false });
    expect(maxAbsDiff(m.centroids, before)).toBe(0);
    m.forward(x, { training: true });
    expect(maxAbsDiff(m.centroids, before)).toBeGreaterThan(0);
    expectClose(tf.norm(m.centroids, 'euclidean', -1), tf.ones([2, 2]), { atol: 1e-5 });
    m.dispose();
  });

  it('computes only inside the clusters: no [t, t] tensor at t = 256 with 8 clusters', async () => {
    const q = rand([1, 1, 256, 8], 10);
    const members = routeBalanced(
      unitNormalize(q),
      unitNormalize(tf.reshape(rand([1, 1, 8, 8], 11), [1, 8, 8]) as tf.Tensor3D),
      32,
    );
    const largest = async (f: () => tf.Tensor) => {
      const info = await tf.profile(f);
      return Math.max(
        ...info.kernels.flatMap((kernel) =>
          (kernel.outputShapes as number[][]).map((s) => s.reduce((p, d) => p * d, 1)),
        ),
      );
    };
    const sparse = await largest(() => clusterAttention(q, q, q, members, { causal: true }));
    const zero = tf.zeros([1, 1, 1, 1]);
    const dense = await largest(
      () => scaledDotProductAttention(q, q, q, { causal: true, bias: zero }).output,
    );
    expect(dense).toBeGreaterThanOrEqual(256 * 256);
    expect(sparse).toBeLessThanOrEqual(8 * 32 * 32); // [clusters, w, w] logits
    tf.dispose([q, members, zero]);
  });

  it('the mixer forms agree and training leaks nothing', async () => {
    const sparse = mixer({ numClusters: 3 });
    const dense = mixer({ numClusters: 3, form: 'dense' });
    dense.loadStateDict(sparse.stateDict());
    [sparse, dense].forEach((m) => m.train(false));
    const x = tf.randomNormal([1, 9, 8], 0, 1, 'float32', 12) as tf.Tensor3D;
    expect(maxAbsDiff(sparse.forward(x), dense.forward(x))).toBeLessThanOrEqual(1e-4);
    sparse.train(true);
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(sparse.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(sparse.centroids.trainable).toBe(false);
    [sparse, dense].forEach((m) => m.dispose());
  });

  it('reports its cluster members to context.probe', () => {
    const m = mixer({ numClusters: 3 });
    const events: { name: string; value: unknown }[] = [];
    m.forward(tf.randomNormal([1, 9, 8], 0, 1, 'float32', 15) as tf.Tensor3D, {
      probe: (e) => events.push(e),
    });
    expect(events.map((e) => e.name)).toEqual(['clusterMembers[1,2,3,3]']);
    expect((events[0]!.value as number[]).every((i) => i >= 0 && i < 9)).toBe(true);
    m.dispose();
  });

  it('refuses bad input with typed one-line errors', () => {
    expect(() => mixer({ numClusters: 0 })).toThrow(ConfigError);
    expect(() => mixer({ decay: 1 })).toThrow(ConfigError);
    expect(() => mixer({ numHeads: 3 })).toThrow(ConfigError);
    const m = mixer({ numClusters: 4 });
    expect(() => m.forward(tf.zeros([1, 6, 8]) as tf.Tensor3D)).toThrow(
      /routing-transformer: x expected a length that numClusters=4 divides/,
    );
    m.dispose();
    const routes = unitNormalize(rand([1, 2, 6, 4], 13));
    const centroids = unitNormalize(tf.reshape(rand([1, 2, 2, 4], 14), [2, 2, 4]) as tf.Tensor3D);
    expect(() => routeBalanced(routes, centroids, 7)).toThrow(/clusterSize expected at most/);
    expect(() => routeBalanced(routes, tf.zeros([3, 2, 4]) as tf.Tensor3D, 3)).toThrow(ShapeError);
    const members = tf.fill([1, 2, 2, 3], 6, 'int32') as tf.Tensor4D;
    expect(() => clusterAttention(routes, routes, routes, members)).toThrow(
      /routingAttention: members expected token indices in 0\.\.5/,
    );
    expect(() =>
      clusterAttention(routes, routes, routes, tf.zeros([1, 2, 2, 3]) as tf.Tensor4D),
    ).toThrow(ShapeError);
  });
});

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + x * b[i]!, 0);
}
