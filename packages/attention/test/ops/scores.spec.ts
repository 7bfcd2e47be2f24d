import * as tf from '@tensorflow/tfjs-core';
import {
  attentionScores,
  maskedSoftmax,
  scaledDotProductAttention,
  zeroMasked,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('attentionScores and maskedSoftmax', () => {
  const q = tf.randomNormal([2, 4, 5, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
  const k = tf.randomNormal([2, 2, 5, 8], 0, 1, 'float32', 2) as tf.Tensor4D;

  it('compose to the weights scaledDotProductAttention returns', () => {
    const options = { causal: true, window: 3, logitSoftcap: 4, sinkLogit: 0.3 };
    const v = tf.ones([2, 2, 5, 1]) as tf.Tensor4D;
    const { weights } = scaledDotProductAttention(q, k, v, { ...options, returnWeights: true });
    const { logits, keep } = attentionScores(q, k, options);
    expectClose(maskedSoftmax(logits, keep, options.sinkLogit), weights!, { atol: 1e-6 });
  });

  it('keeps logits and mask apart: masked entries hold raw logits until masked', async () => {
    const { logits, keep, geometry } = attentionScores(q, k, { causal: true });
    expect(logits.shape).toEqual([2, 4, 5, 5]);
    expect(geometry.heads).toBe(4);
    expect(keep!.shape).toEqual([1, 1, 5, 5]);
    const zeroed = zeroMasked(logits, keep).arraySync() as number[][][][];
    expect(zeroed[0]![0]![0]![4]).toBe(0);
    expect(zeroed[0]![0]![4]![0]).not.toBe(0);
    await expectNoLeaks(() => {
      const r = attentionScores(q, k, { causal: true });
      tf.dispose([r.logits, r.keep!]);
    });
  });

  it('names the calling block in its errors', () => {
    expect(() => attentionScores(q, tf.zeros([2, 3, 5, 8]) as tf.Tensor4D, {}, 'my-mixer')).toThrow(
      'my-mixer: k heads expected a divisor of the 4 query heads, got 3 key/value heads',
    );
  });
});
