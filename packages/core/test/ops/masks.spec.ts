import * as tf from '@tensorflow/tfjs-core';
import {
  MASK_NEGATIVE,
  ConfigError,
  ShapeError,
  applyMask,
  causalMask,
  combineMasks,
  maskToAdditive,
  paddingMask,
  prefixLmMask,
  segmentMask,
  slidingWindowMask,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

const bools = (t: tf.Tensor) => Array.from(t.dataSync()).map((v) => (v ? 1 : 0));

describe('masks', () => {
  it('causal: square, and with an offset for decoding', () => {
    expect(bools(causalMask(3, 3))).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1]);
    // 2 new queries after 2 cached keys: positions 2 and 3 over keys 0..3
    expect(bools(causalMask(2, 4))).toEqual([1, 1, 1, 0, 1, 1, 1, 1]);
    expect(bools(causalMask(1, 3, 0))).toEqual([1, 0, 0]);
  });

  it('sliding window keeps the last `window` positions', () => {
    expect(bools(slidingWindowMask(4, 4, 2))).toEqual([
      1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1,
    ]);
    expect(() => slidingWindowMask(4, 4, 0)).toThrow(
      'slidingWindowMask: window expected an integer >= 1, got 0',
    );
  });

  it('padding masks keys beyond each length', () => {
    const m = paddingMask([2, 3], 3);
    expect(m.shape).toEqual([2, 1, 1, 3]);
    expect(bools(m)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(bools(paddingMask(tf.tensor1d([1], 'int32'), 2))).toEqual([1, 0]);
    expect(() => paddingMask([-1], 2)).toThrow(ConfigError);
  });

  it('segment ids give a block-diagonal mask', () => {
    const m = segmentMask(tf.tensor2d([[0, 0, 1]], [1, 3], 'int32'));
    expect(m.shape).toEqual([1, 1, 3, 3]);
    expect(bools(m)).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 1]);
    expect(() => segmentMask(tf.zeros([1, 3]), tf.zeros([2, 3]))).toThrow(ShapeError);
  });

  it('prefix LM is bidirectional over the prefix', () => {
    expect(bools(prefixLmMask(3, 2))).toEqual([1, 1, 0, 1, 1, 0, 1, 1, 1]);
  });

  it('combines with broadcasting, converts to additive and applies', () => {
    const both = combineMasks(causalMask(2, 2), undefined, paddingMask([1], 2))!;
    expect(both.shape).toEqual([1, 1, 2, 2]);
    expect(bools(both)).toEqual([1, 0, 1, 0]);
    expect(combineMasks()).toBeUndefined();
    expect(() => combineMasks(tf.ones([2]))).toThrow(/dtype bool/);
    expect(Array.from(maskToAdditive(causalMask(1, 2, 0)).dataSync())).toEqual([0, MASK_NEGATIVE]);
    const logits = tf.ones([1, 2, 2, 2]);
    const masked = applyMask(logits, causalMask(2, 2));
    expect(masked.shape).toEqual([1, 2, 2, 2]);
    expect(Array.from(masked.dataSync()).slice(0, 4)).toEqual([1, MASK_NEGATIVE, 1, 1]);
    expect(
      Array.from(applyMask(logits, maskToAdditive(causalMask(2, 2))).dataSync()).slice(0, 2),
    ).toEqual([1, Math.fround(1 + MASK_NEGATIVE)]);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const seg = tf.zeros([1, 3], 'int32');
      const logits = tf.zeros([1, 1, 3, 3]);
      const ms = [
        causalMask(3, 3),
        slidingWindowMask(3, 3, 2),
        paddingMask([2], 3),
        segmentMask(seg as tf.Tensor2D),
        prefixLmMask(3, 1),
      ];
      const all = combineMasks(...ms)!;
      tf.dispose([...ms, all, maskToAdditive(all), applyMask(logits, all), seg, logits]);
    });
  });
});
