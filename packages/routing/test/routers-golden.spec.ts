import * as tf from '@tensorflow/tfjs-core';
import { build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import { type Router, loadBalanceLoss, routerZLoss } from '@attnkit/routing';
import { fixture } from './helpers';

interface RouterCase {
  name: string;
  router: { type: string };
  x: number[][];
  weight: number[][];
  noise?: number[][];
  noiseWeight?: number[][];
  similarityWeight?: number[][];
  groups?: number;
  causal?: boolean;
  indices: number[][];
  gates: number[][];
  mask: number[][];
  load: number[];
  demand: number[];
  droppedAssignments: number;
  droppedTokens: number;
  capacity: number | null;
  loadBalance: number | null;
  zLoss: number;
  objectiveWeights: number[][];
  gradWeight: number[][];
  gradExtra?: number[][];
}

const { cases } = fixture<{ cases: RouterCase[] }>('routers.json');

function setup(c: RouterCase): { router: Router; extra: tf.Variable | null } {
  const router = build<Router>(c.router);
  const state: Record<string, tf.Tensor> = { 'gate.weight': tf.tensor2d(c.weight) };
  let extraName: string | null = null;
  if (c.noiseWeight) extraName = 'noise.weight';
  if (c.similarityWeight) extraName = 'similarity.weight';
  if (extraName) state[extraName] = tf.tensor2d(c.noiseWeight ?? c.similarityWeight!);
  router.loadStateDict(state);
  tf.dispose(Object.values(state));
  return { router, extra: extraName ? router.namedParameters().get(extraName)! : null };
}

describe('routers against the PyTorch reference', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { router, extra } = setup(c);
    const x = tf.tensor2d(c.x);
    const noise = c.noise ? tf.tensor2d(c.noise) : undefined;
    const options = { training: noise !== undefined, noise, groups: c.groups, causal: c.causal };
    const out = router.route(x, options);
    expect(Array.from(out.indices.dataSync())).toEqual(c.indices.flat());
    expect(out.indices.dtype).toBe('int32');
    expectClose(out.gates, c.gates, { atol: 1e-5 });
    expectClose(out.mask, c.mask);
    expect(out.stats).toEqual({
      tokens: c.x.length,
      load: c.load,
      demand: c.demand,
      droppedAssignments: c.droppedAssignments,
      droppedTokens: c.droppedTokens,
      capacity: c.capacity,
    });
    if (c.loadBalance !== null) {
      const lb = loadBalanceLoss(out.probs, out.stats.demand);
      expectClose(lb, c.loadBalance, { atol: 1e-5 });
      lb.dispose();
    }
    const z = routerZLoss(out.logits!);
    expectClose(z, c.zLoss, { atol: 1e-5 });

    const r = tf.tensor2d(c.objectiveWeights);
    const vars = [router.namedParameters().get('gate.weight')!, ...(extra ? [extra] : [])];
    const { value, grads } = tf.variableGrads(() => {
      const o = router.route(x, options);
      let total = tf.add(tf.sum(tf.mul(o.gates, r)), routerZLoss(o.logits!));
      if (c.loadBalance !== null) total = tf.add(total, loadBalanceLoss(o.probs, o.stats.demand));
      return total as tf.Scalar;
    }, vars);
    expectClose(grads[vars[0]!.name]!, c.gradWeight, { atol: 1e-4, rtol: 1e-4 });
    if (extra) expectClose(grads[extra.name]!, c.gradExtra!, { atol: 1e-4, rtol: 1e-4 });
    tf.dispose([x, noise, out.indices, out.gates, out.mask, out.logits!, out.probs, z, r, value]);
    tf.dispose(grads);
    router.dispose();
  });
});
