import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import type { MultiHeadAttention, SelectiveAttention, SelectiveState } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, mixerContract, randomInput } from '../helpers';

describe('selective attention', () => {
  describe('contract', () => {
    mixerContract({ type: 'selective' });
    mixerContract({ type: 'selective', numKvHeads: 2, qkNorm: 'rms' });
  });

  /** MHA with the same projections. */
  function twin(m: SelectiveAttention): MultiHeadAttention {
    const mha = makeMixer<MultiHeadAttention>({ type: 'mha', numKvHeads: m.numKvHeads });
    for (const name of ['q', 'k', 'v', 'o'] as const) mha[name].weight.assign(m[name].weight);
    return mha;
  }

  it('is multi-head attention when head 0 selects nothing, and differs when it does', () => {
    const m = makeMixer<SelectiveAttention>({ type: 'selective' });
    const mha = twin(m);
    const x = randomInput(6);
    expect(maxAbsDiff(m.forward(x), mha.forward(x))).toBeGreaterThan(1e-4);
    // Zero head 0's query columns: its logits are 0, ReLU(0) = 0, nothing is subtracted.
    const mask = tf.concat([tf.zeros([16, 4]), tf.ones([16, 12])], 1);
    const zeroed = tf.mul(m.q.weight, mask);
    m.q.weight.assign(zeroed);
    mha.q.weight.assign(zeroed);
    expectClose(m.forward(x), mha.forward(x), { atol: 1e-5 });
    tf.dispose([mask, zeroed]);
    m.dispose();
    mha.dispose();
  });

  it('the state accumulates the selection mass per key', () => {
    const m = makeMixer({ type: 'selective' });
    const state = m.initState!(2) as SelectiveState;
    m.forward(randomInput(3), { state });
    expect(state.total!.shape).toEqual([2, 3]);
    // The first token is never selected away; the last has been seen by no later token.
    const total = state.total!.arraySync();
    for (const row of total) {
      expect(row[0]).toBe(0);
      expect(row[2]).toBe(0);
    }
    m.forward(randomInput(1), { state });
    expect(state.total!.shape).toEqual([2, 4]);
    state.dispose();
    expect(state.total).toBeNull();
    m.dispose();
  });

  it('rejects bad configs and inputs naming block, argument and values', () => {
    expect(() => makeMixer({ type: 'selective', numKvHeads: 3 })).toThrow(
      'selective: $.numKvHeads expected a divisor of numHeads=4, got 3',
    );
    expect(() => makeMixer({ type: 'selective', numHeads: 3 })).toThrow(
      /selective: \$\.numHeads expected a divisor of dModel=16/,
    );
    expect(() => makeMixer({ type: 'selective', causal: false })).toThrow(
      /unknown option 'causal'/,
    );
    const m = makeMixer({ type: 'selective' });
    expect(() => m.forward(randomInput(3), { causal: false })).toThrow(
      'selective: context.causal expected true or unset (causal only), got false',
    );
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    const state = m.initState!(2);
    expect(() =>
      m.forward(randomInput(2), { state, segmentIds: tf.zeros([2, 2], 'int32') as tf.Tensor2D }),
    ).toThrow(ConfigError);
    state.dispose();
    m.dispose();
  });
});
