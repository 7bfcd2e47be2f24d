import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, type IncrementalState } from '@attnkit/core';
import { MultiTokenAttention, type MultiHeadAttention } from '@attnkit/attention';
import { expectClose, maxAbsDiff } from '@attnkit/core/testing';
import {
  decodeStepwise,
  makeMixer,
  mixerContract,
  perturb,
  randomInput,
  type Mixer,
} from '../helpers';

describe('multi-token attention (MTA)', () => {
  const small = { type: 'multi-token', queryKernel: 3, keyKernel: 3 };
  describe('contract (kernels moved off the identity, so decoding must carry earlier queries)', () => {
    const prepare = (m: Mixer) => perturb(m);
    mixerContract(small, { prepare });
    mixerContract(
      { ...small, keyKernel: 5, keyQueryConv: 'post', headMix: 'pre', headNorm: 'group' },
      { prepare },
    );
    mixerContract({ ...small, numKvHeads: 2, headKernel: 4, layerIndex: 2 }, { prepare });
  });

  it("the paper's 6 x 11 kernel, wider than the sequence, decodes as the full forward", () => {
    const m = makeMixer({ type: 'multi-token' });
    perturb(m);
    const x = randomInput(7);
    expect(maxAbsDiff(decodeStepwise(m, x), m.forward(x))).toBeLessThan(1e-4);
    m.dispose();
  });

  it('with identity kernels and no norm it is multi-head attention', () => {
    const mta = makeMixer<MultiTokenAttention>({ ...small, headNorm: 'none' });
    const mha = makeMixer<MultiHeadAttention>({ type: 'mha' });
    for (const name of ['q', 'k', 'v', 'o'] as const) mha[name].weight.assign(mta[name].weight);
    const x = randomInput(6);
    expectClose(mta.forward(x), mha.forward(x), { atol: 1e-5 });
    // A kernel that is not the identity changes the output.
    mta.kernel!.assign(tf.add(mta.kernel!, 0.3));
    expect(() => expectClose(mta.forward(x), mha.forward(x), { atol: 1e-3 })).toThrow();
    mta.dispose();
    mha.dispose();
  });

  it('a future key never reaches a query through the key convolution', () => {
    // Weight on keys to the right of the centre: with Mask_0 they read zeros past the query.
    const m = makeMixer<MultiTokenAttention>({ ...small, keyKernel: 5, headMix: 'none' });
    m.kernel!.assign(tf.randomNormal(m.kernel!.shape, 0, 1, 'float32', 4));
    const a = randomInput(6, 2);
    const b = tf.concat([tf.slice(a, [0, 0, 0], [-1, 5, -1]), randomInput(1, 9)], 1) as tf.Tensor3D;
    const first5 = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [-1, 5, -1]);
    expectClose(first5(m.forward(b)), first5(m.forward(a)), { atol: 1e-5 });
    m.dispose();
  });

  it('hands the final weights of the new queries to the hook', () => {
    const m = makeMixer({ ...small, keyQueryConv: 'post' });
    const shapes: number[][] = [];
    m.forward(randomInput(5), { attentionHook: ({ weights }) => shapes.push(weights.shape) });
    const state = m.initState!(2);
    m.forward(randomInput(3), { state });
    m.forward(randomInput(1), {
      state,
      attentionHook: ({ weights }) => shapes.push(weights.shape),
    });
    expect(shapes).toEqual([
      [2, 4, 5, 5],
      [2, 4, 1, 4],
    ]);
    state.dispose();
    m.dispose();
  });

  it('keeps only the queries the next convolution reads', () => {
    const m = makeMixer<MultiTokenAttention>({ ...small, queryKernel: 4 });
    const state = m.initState!(2) as import('@attnkit/attention').MultiTokenState;
    m.forward(randomInput(5), { state });
    expect(state.queryPositions).toEqual([2, 3, 4]);
    expect(state.queries!.shape).toEqual([2, 4, 3, 4]);
    m.forward(randomInput(1), { state });
    expect(state.queryPositions).toEqual([3, 4, 5]);
    state.dispose();
    m.dispose();
  });

  it('rejects bad configs and inputs naming block, argument and values', () => {
    expect(() => makeMixer({ ...small, keyKernel: 4 })).toThrow(/multi-token: \$\.keyKernel/);
    expect(() => makeMixer({ ...small, headKernel: 3 })).toThrow(
      'multi-token: headKernel expected a divisor of numHeads=4, got 3',
    );
    expect(() => makeMixer({ ...small, numKvHeads: 3 })).toThrow(
      'multi-token: $.numKvHeads expected a divisor of numHeads=4, got 3',
    );
    expect(() => makeMixer({ ...small, queryKernel: 0 })).toThrow(/\$\.queryKernel/);
    expect(() => makeMixer({ ...small, window: 2 })).toThrow(/unknown option 'window'/);
    const m = makeMixer(small);
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    const state = m.initState!(2);
    expect(() => m.forward(randomInput(2), { state, mask: tf.ones([2, 2], 'bool') })).toThrow(
      ConfigError,
    );
    expect(() =>
      m.forward(randomInput(2), {
        state: { length: 0, dispose() {} } as unknown as IncrementalState,
      }),
    ).toThrow(/context.state expected a MultiTokenState/);
    state.dispose();
    m.dispose();
  });

  it('constructed directly with a bad layerIndex, it throws before creating any tensor', () => {
    const before = tf.memory().numTensors;
    const config = { type: 'multi-token', dModel: 8, numHeads: 4, layerIndex: -1 } as const;
    expect(() => new MultiTokenAttention(config)).toThrow(
      'multi-token: layerIndex expected an integer >= 0, got -1',
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
