import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import type { DifferentialAttention } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, mixerContract, randomInput } from '../helpers';

describe('differential attention (DIFF Transformer)', () => {
  const base = { type: 'differential', numHeads: 2 };
  describe('contract', () => {
    mixerContract(base);
    mixerContract({ ...base, numKvHeads: 1, headNorm: 'group', layerIndex: 4, qkNorm: 'rms' });
    mixerContract({ ...base, window: 3, chunkSize: 2 });
  });

  it('follows the λ_init depth schedule 0.8 - 0.6·exp(-0.3·l)', () => {
    for (const [layerIndex, expected] of [
      [0, 0.2],
      [1, 0.8 - 0.6 * Math.exp(-0.3)],
      [10, 0.8 - 0.6 * Math.exp(-3)],
    ] as const) {
      const m = makeMixer<DifferentialAttention>({ ...base, layerIndex });
      expect(m.lambdaInit).toBeCloseTo(expected, 12);
      m.dispose();
    }
    const fixed = makeMixer<DifferentialAttention>({ ...base, lambdaInit: 0.5, layerIndex: 3 });
    expect(fixed.lambdaInit).toBe(0.5);
    fixed.dispose();
  });

  it('λ = exp(λq1·λk1) - exp(λq2·λk2) + λ_init; hooked rows sum to 1 - λ', () => {
    const m = makeMixer<DifferentialAttention>(base);
    const expected =
      Math.exp(tf.sum(tf.mul(m.lambdaQ1, m.lambdaK1)).dataSync()[0]!) -
      Math.exp(tf.sum(tf.mul(m.lambdaQ2, m.lambdaK2)).dataSync()[0]!) +
      m.lambdaInit;
    expect(m.lambda().dataSync()[0]).toBeCloseTo(expected, 5);
    const sums: number[] = [];
    m.forward(randomInput(4), {
      attentionHook: ({ weights }) => {
        expect(weights.shape).toEqual([2, 2, 4, 4]);
        sums.push(...tf.sum(weights, -1).dataSync());
      },
    });
    for (const s of sums) expect(s).toBeCloseTo(1 - expected, 5);
    m.dispose();
  });

  it('chunked and naive forms agree in outputs and gradients', () => {
    const naive = makeMixer<DifferentialAttention>(base);
    const chunked = makeMixer<DifferentialAttention>({ ...base, chunkSize: 3 });
    chunked.loadStateDict(naive.stateDict());
    const x = randomInput(7);
    expectClose(chunked.forward(x), naive.forward(x), { atol: 1e-5 });
    const grad = (m: DifferentialAttention) =>
      tf.grad((input: tf.Tensor) => tf.sum(tf.square(m.forward(input as tf.Tensor3D))))(x);
    expect(maxAbsDiff(grad(chunked), grad(naive))).toBeLessThan(1e-4);
    naive.dispose();
    chunked.dispose();
  });

  it('lays out projections as in the reference: q 2H·d, k and v 2K·d, o 2H·d', () => {
    const m = makeMixer<DifferentialAttention>({ ...base, numKvHeads: 1 });
    expect(m.headDim).toBe(4);
    expect(m.q.weight.shape).toEqual([16, 16]);
    expect(m.k.weight.shape).toEqual([16, 8]);
    expect(m.v.weight.shape).toEqual([16, 8]);
    expect(m.norm.weight.shape).toEqual([8]);
    m.dispose();
  });

  it('rejects bad configs and inputs naming block, argument and values', () => {
    expect(() => makeMixer({ ...base, numKvHeads: 3 })).toThrow(
      'differential: $.numKvHeads expected a divisor of numHeads=2, got 3',
    );
    expect(() => makeMixer({ ...base, numHeads: 3 })).toThrow(
      'differential: $.numHeads expected a divisor of dModel/2=8 (or set headDim), got 3',
    );
    expect(() => makeMixer({ ...base, layerIndex: -1 })).toThrow(/\$\.layerIndex/);
    expect(() => makeMixer({ ...base, headNorm: 'batch' })).toThrow(/\$\.headNorm/);
    const m = makeMixer(base);
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    const state = m.initState!(2);
    expect(() =>
      m.forward(randomInput(2), { state, segmentIds: tf.zeros([2, 2], 'int32') as tf.Tensor2D }),
    ).toThrow(ConfigError);
    state.dispose();
    m.dispose();
  });
});
