import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, type ProbeEvent } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import '@attnkit/routing'; // registers moh and mosa
import type { MoHAttention, MoSAAttention } from '@attnkit/routing';
import { randn } from '../helpers';

describe('routing mixers on the v2 contract', () => {
  it('mosa reports weights in the contract shape [b, h, T, T], zero outside the chosen tokens', () => {
    const m = build<MoSAAttention>(
      { type: 'mosa', dModel: 12, numHeads: 3, sparsity: 2 },
      { rng: new Rng(3) },
    );
    const x = randn([2, 6, 12], 1) as tf.Tensor3D;
    let weights: tf.Tensor4D | undefined;
    const events: ProbeEvent[] = [];
    m.forward(x, {
      path: 'layers_0.mixer',
      attentionHook: (info) => {
        expect(info.path).toBe('layers_0.mixer');
        weights = tf.keep(info.weights.clone());
      },
      probe: (e) => events.push(e),
    }).dispose();
    expect(weights!.shape).toEqual([2, 3, 6, 6]);
    // Each head picks k = 3 of 6 tokens: 3 rows sum to 1, the other 3 are all zero.
    const rowSums = tf.sum(weights!, -1);
    const sorted = Array.from(rowSums.dataSync()).sort();
    expectClose(sorted, [...new Array(18).fill(0), ...new Array(18).fill(1)], { atol: 1e-5 });
    expect(events.map((e) => e.name)).toEqual(['k', 'coverage']);
    expect(events[0]!.value).toBe(3);
    tf.dispose([x, weights!, rowSums]);
    m.dispose();
  });

  it('moh takes head control per call from the context (forced head always active)', () => {
    const m = build<MoHAttention>(
      { type: 'moh', dModel: 12, numHeads: 4, numSharedHeads: 1, topK: 1 },
      { rng: new Rng(3) },
    );
    const x = randn([1, 5, 12], 2) as tf.Tensor3D;
    const loads: number[][] = [];
    const probe = (e: ProbeEvent) => {
      if (e.name === 'headLoad') loads.push(e.value as number[]);
    };
    m.forward(x, { probe, heads: { forced: [2] } }).dispose();
    expect(loads[0]).toEqual([5, 0, 5, 0]);
    expect(m.headControl).toBeNull(); // the call's control does not stick
    expect(() => m.forward(x, { heads: { forced: [1, 2] } })).toThrow(/at most topK=1/);
    x.dispose();
    m.dispose();
  });
});

describe('moe on the probe', () => {
  it('reports its routing statistics with the feed-forward path', () => {
    const m = build<import('@attnkit/routing').MoE>(
      {
        type: 'moe',
        dim: 8,
        numExperts: 4,
        expert: { type: 'mlp', hiddenDim: 8 },
      },
      { rng: new Rng(1) },
    );
    const x = randn([2, 3, 8], 4);
    const events: ProbeEvent[] = [];
    m.forward(x, { path: 'layers_1.feedForward', probe: (e) => events.push(e) }).dispose();
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.block === 'moe' && e.path === 'layers_1.feedForward')).toBe(true);
    expect(events.map((e) => e.name)).toContain('load');
    x.dispose();
    m.dispose();
  });
});
