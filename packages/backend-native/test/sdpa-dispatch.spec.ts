// @attnkit/attention's scaledDotProductAttention runs the fused kernel on native when the
// options allow, and the composite otherwise; both agree with the cpu composite.
import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { FUSED_ATTENTION } from '../src/index';
import { expectSame, onBoth, rand } from './helpers';

async function kernelsOf(f: () => void): Promise<string[]> {
  const initial = tf.getBackend();
  await tf.setBackend('native');
  const info = await tf.profile(() => {
    tf.tidy(f);
  });
  await tf.setBackend(initial);
  return info.kernels.map((k) => k.name);
}

describe('scaledDotProductAttention on native', () => {
  const q = rand([2, 4, 9, 8], 1) as tf.Tensor4D;
  const k = rand([2, 2, 9, 8], 2) as tf.Tensor4D;
  const v = rand([2, 2, 9, 8], 3) as tf.Tensor4D;
  afterAll(() => tf.dispose([q, k, v]));

  const fusedCases: Array<[string, AttentionOptions]> = [
    ['causal', { causal: true }],
    ['window', { window: 3 }],
    ['chunked form', { causal: true, chunkSize: 4 }],
    [
      'explicit positions',
      {
        causal: true,
        queryPositions: [...Array(9).keys()].map((i) => i + 2),
        keyPositions: [...Array(9).keys()].map((i) => i * 2),
      },
    ],
    ['scale, no mask', { scale: 0.3 }],
  ];
  it.each(fusedCases)('uses the fused kernel and matches cpu: %s', async (_name, options) => {
    const f = () => scaledDotProductAttention(q, k, v, options).output;
    expect(await kernelsOf(f)).toContain(FUSED_ATTENTION);
    expectSame(await onBoth(f), 2e-5);
    const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.square(
          scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, options)
            .output,
        ),
      );
    expectSame(await onBoth(() => tf.grads(loss)([q, k, v])), 2e-5);
  });

  const compositeCases: Array<[string, () => AttentionOptions]> = [
    ['boolean mask', () => ({ mask: tf.greater(rand([1, 1, 9, 9], 4), -0.5) })],
    ['bias', () => ({ causal: true, bias: rand([1, 4, 9, 9], 5) })],
    ['softcap', () => ({ causal: true, logitSoftcap: 5 })],
    ['returned weights', () => ({ causal: true, returnWeights: true })],
  ];
  it.each(compositeCases)(
    'falls back to the composite and matches cpu: %s',
    async (_name, make) => {
      const options = make();
      const f = () => scaledDotProductAttention(q, k, v, options).output;
      expect(await kernelsOf(f)).not.toContain(FUSED_ATTENTION);
      expectSame(await onBoth(f), 2e-5);
      tf.dispose([options.mask, options.bias].filter((t): t is tf.Tensor => t !== undefined));
    },
  );
});
