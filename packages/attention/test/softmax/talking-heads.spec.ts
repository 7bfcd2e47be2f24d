import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@attnkit/core';
import type { MultiHeadAttention, TalkingHeadsAttention } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';
import { makeMixer, mixerContract, perturb, randomInput } from '../helpers';

describe('talking-heads attention', () => {
  describe('contract', () => {
    mixerContract({ type: 'talking-heads' }, { prepare: (m) => perturb(m) });
    mixerContract(
      { type: 'talking-heads', numKeyHeads: 3, numValueHeads: 2, window: 3 },
      { prepare: (m) => perturb(m) },
    );
  });

  it('starts as multi-head attention (identity head mixing)', () => {
    const th = makeMixer<TalkingHeadsAttention>({ type: 'talking-heads' });
    const mha = makeMixer<MultiHeadAttention>({ type: 'mha' });
    for (const name of ['q', 'k', 'v', 'o'] as const) mha[name].weight.assign(th[name].weight);
    const x = randomInput(5);
    expectClose(th.forward(x), mha.forward(x), { atol: 1e-5 });
    th.dispose();
    mha.dispose();
  });

  it('shapes its projections by the three head counts', () => {
    const m = makeMixer<TalkingHeadsAttention>({
      type: 'talking-heads',
      numKeyHeads: 3,
      numValueHeads: 2,
    });
    expect(m.preSoftmax.shape).toEqual([3, 4]);
    expect(m.postSoftmax.shape).toEqual([4, 2]);
    expect(m.v.weight.shape).toEqual([16, 8]);
    const seen: number[][] = [];
    m.forward(randomInput(3), { attentionHook: ({ weights }) => seen.push(weights.shape) });
    expect(seen).toEqual([[2, 4, 3, 3]]);
    m.dispose();
  });

  it('rejects bad configs and inputs naming block, argument and values', () => {
    expect(() => makeMixer({ type: 'talking-heads', numHeads: 3 })).toThrow(
      /talking-heads: \$\.numHeads expected a divisor of dModel=16/,
    );
    expect(() => makeMixer({ type: 'talking-heads', window: 0 })).toThrow(
      /talking-heads: \$\.window expected a value > 0, got 0/,
    );
    expect(() => makeMixer({ type: 'talking-heads', numKeyHeads: 0 })).toThrow(/numKeyHeads/);
    const m = makeMixer({ type: 'talking-heads' });
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(randomInput(3), { positions: tf.tensor1d([0, 1], 'int32') })).toThrow(
      'talking-heads: context.positions expected 3 positions, got 2',
    );
    m.dispose();
  });
});
